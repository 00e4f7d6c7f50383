"""The set-based ``shipped`` append (flex_provider.ledger.shipped): evaluate rows once each, folded at once."""

from __future__ import annotations

from datetime import timedelta

from flex_provider.ledger import FlexLedger
from flex_provider.ledger.shipped import append_shipped
from tests.unit.ledger.facts import DAY, NOW


def _record(ledger: FlexLedger, mid: str, name: str, kind: str, orders: list[str]) -> None:
    ledger.record_file(name, business_date=DAY, kind=kind, mid=mid, rows=len(orders), sha256="a" * 64,
                       rows_sha256="b" * 64)  # fmt: skip
    ledger.record_rows(name, [{"order_id": o, "sequence_number": i + 1, "idempotency_key": f"key-{o}",
                               "expiry_date_utc": NOW + timedelta(days=i)} for i, o in enumerate(orders)])  # fmt: skip


def test_shipped_events_are_appended_once_for_evaluate_files_only(ledger: FlexLedger, mid: str) -> None:
    evaluate, transmit = f"evaluate_{mid}_20261124_0001.json", f"transmit_{mid}_20261124_0001.json"
    _record(ledger, mid, evaluate, "evaluate", ["o1", "o2"])
    _record(ledger, mid, transmit, "transmit", ["t1"])
    with ledger._begin() as conn:
        assert append_shipped(conn, ledger._insert, [evaluate, transmit, evaluate], NOW) == 2
    with ledger._begin() as conn:
        assert append_shipped(conn, ledger._insert, [evaluate], NOW + timedelta(hours=1)) == 0  # a repeat
        assert append_shipped(conn, ledger._insert, [], NOW) == 0
    events = ledger.order_events(mid, "o2")
    assert [(e["kind"], e["event_key"], e["detail"], e["status"]) for e in events] == [
        ("shipped", f"{evaluate}:2", "key-o2", "SHIPPED")
    ]
    assert ledger.order_events(mid, "t1") == []  # a transmit row is not an order Flex is to rescue
    state = ledger.order_state(mid, "o2")  # folded in the same transaction
    assert (state["status"], state["batch_file"], state["sent_at"]) == ("SHIPPED", evaluate, NOW)
    assert state["expiry_at"] == NOW + timedelta(days=1)
    assert ledger.order_state(mid, "o1")["expiry_at"] == NOW
