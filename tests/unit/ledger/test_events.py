"""Order events (flex_provider.ledger.events): one natural key per fact, and a sort key whose maximum wins."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from flex_provider.ledger.events import (
    OrderEvent,
    ack_events,
    rejected_events,
    result_event,
    result_key,
    shipped_events,
    sort_key_for,
)
from flex_provider.models.batch import AckFile, ResultRow

DAY = date(2026, 11, 24)
T0 = datetime(2026, 11, 24, 6, tzinfo=timezone.utc)
FILE = "evaluate_m_20261124_0001.json"


def _ack(inbound: str, rows: list[tuple[str, str, str]]) -> AckFile:
    return AckFile.model_validate(
        {
            "fileType": "ack", "inboundFile": inbound, "mid": "m", "receivedAtUtc": "2026-11-24T08:00:00Z",
            "status": "PROCESSED", "rowCount": len(rows), "accepted": 0, "rejected": 0,
            "rows": [{"sequenceNumber": seq, "orderId": oid, "status": status,
                      "orderSessionKey": None if status == "REJECTED" else f"osk-{oid}"}
                     for seq, oid, status in rows],
        }
    )  # fmt: skip


def _winner(*events: OrderEvent) -> str:
    """The status the fold picks: the one of the greatest sort key (ledger/state.py reads it there)."""
    return max(e.sort_key() for e in events if e.sort_key() is not None)[29:].strip()  # status: chars 30-39


def _ev(kind: str, status: str, hours: float, key: str = "k") -> OrderEvent:
    return OrderEvent(mid="m", order_id="o1", kind=kind, event_key=key, status=status,
                      flex_time=T0 + timedelta(hours=hours))  # fmt: skip


def test_every_fact_of_a_file_has_its_own_key_and_a_repeat_has_the_same() -> None:
    rows = [
        {"order_id": f"o{i}", "sequence_number": str(i + 1), "idempotency_key": f"k{i}"} for i in range(3)
    ]
    shipped = list(shipped_events("m", FILE, DAY, rows, T0))
    assert [e.event_key for e in shipped] == [f"{FILE}:1", f"{FILE}:2", f"{FILE}:3"]
    assert [e.detail for e in shipped] == ["k0", "k1", "k2"]
    assert [e.event_key for e in shipped_events("m", FILE, DAY, rows, T0 + timedelta(days=1))] == [
        e.event_key for e in shipped
    ]  # a rerun's upload is the same fact: same keys, so storing it again adds nothing
    other = shipped_events("m", FILE.replace("0001", "0002"), DAY, rows, T0)
    assert not {e.event_key for e in other} & {e.event_key for e in shipped}

    # the same order acked SUBMITTED then REJECTED (a resent file) is two facts; a replayed ack is one
    acks = list(
        ack_events(_ack(FILE, [("1", "o0", "SUBMITTED"), ("1", "o0", "REJECTED"), ("2", "o1", "SUCCESS")]))
    )
    assert [e.event_key for e in acks] == [
        f"{FILE}:1:o0:SUBMITTED",
        f"{FILE}:1:o0:REJECTED",
        f"{FILE}:2:o1:SUBMITTED",
    ]
    assert [e.status for e in acks] == ["SUBMITTED", "REJECTED", "SUBMITTED"]  # transmit SUCCESS -> SUBMITTED

    rejects = list(rejected_events("m", DAY, [("o5", "missing:currency"), ("o6", "")]))
    assert [(e.event_key, e.detail) for e in rejects] == [
        ("2026-11-24:o5:missing:currency", "missing:currency"),
        ("2026-11-24:o6:rejected", "rejected"),
    ]


def test_result_keys_are_the_row_index_in_the_file_or_the_row_itself() -> None:
    row = ResultRow(order_id="o1", status="APPROVED", confirmation_id="C1", amount=1999,
                    timestamp_utc=T0)  # fmt: skip
    assert result_key(row, "result_m_1.json", 7) == "result_m_1.json:7"
    assert result_key(row, "result_m_1.json", 8) != result_key(row, "result_m_1.json", 7)
    # without a file (an API read), the content is the key: the same outcome read twice is one fact
    assert result_key(row, None, 1) == result_key(row, None, 2) == "APPROVED:o1:2026-11-24T06:00:00.000000:C1"
    assert result_event("m", row, "k").amount_minor == 1999


def test_final_beats_pending_whatever_the_times() -> None:
    approved = _ev("result", "APPROVED", 1)
    late_ack = _ev("ack", "SUBMITTED", 500)
    late_ship = _ev("shipped", "SHIPPED", 900)
    assert _winner(approved, late_ack, late_ship) == "APPROVED"
    assert _winner(_ev("ack", "REJECTED", 1), _ev("shipped", "SHIPPED", 9)) == "REJECTED"
    # a void or refund beats the outcome it voids
    assert _winner(_ev("result", "CANCELLED", 1), _ev("webhook", "APPROVED", 50)) == "CANCELLED"
    assert _winner(_ev("webhook", "REFUNDED", 1), _ev("result", "APPROVED", 50)) == "REFUNDED"
    cancel = OrderEvent(mid="m", order_id="o1", kind="cancel_answered", event_key="c", status="SUCCESS",
                        flex_time=T0)  # fmt: skip
    assert cancel.status_candidate() == "CANCELLED"
    assert _winner(cancel, _ev("result", "APPROVED", 50)) == "CANCELLED"


def test_within_a_rank_the_later_flex_time_then_the_sweep_then_the_tie_order_wins() -> None:
    assert _winner(_ev("result", "EXPIRED", 2), _ev("webhook", "APPROVED", 5)) == "APPROVED"
    assert _winner(_ev("result", "APPROVED", 2), _ev("webhook", "EXPIRED", 5)) == "EXPIRED"
    # Flex's own read of the order (the sweep) wins over files and webhooks, even earlier
    assert _winner(_ev("sweep", "EXPIRED", 1), _ev("result", "APPROVED", 5)) == "EXPIRED"
    # at the same instant: APPROVED over EXPIRED (collected money is a fact), SUBMITTED over REJECTED
    assert _winner(_ev("result", "EXPIRED", 3), _ev("webhook", "APPROVED", 3)) == "APPROVED"
    assert _winner(_ev("ack", "SUBMITTED", 3), _ev("ack", "REJECTED", 3)) == "SUBMITTED"
    # microseconds count, and a naive Flex time is UTC (never local time)
    assert _winner(_ev("result", "APPROVED", 2), _ev("result", "EXPIRED", 2 + 1e-6 / 3600 * 2)) == "EXPIRED"
    naive = OrderEvent(mid="m", order_id="o1", kind="result", event_key="n", status="EXPIRED",
                       flex_time=datetime(2026, 11, 24, 6))  # fmt: skip
    plus_one = OrderEvent(mid="m", order_id="o1", kind="result", event_key="p", status="EXPIRED",
                          flex_time=datetime(2026, 11, 24, 7, tzinfo=timezone(timedelta(hours=1))))  # fmt: skip
    assert naive.sort_key() == plus_one.sort_key()


def test_sort_keys_are_fixed_width_and_events_without_a_status_have_none() -> None:
    keys = [sort_key_for(k, s, t, "x" * n) for k, s, t, n in [
        ("shipped", "SHIPPED", T0, 3), ("sweep", "REFUNDED", None, 300), ("result", "EXPIRED", T0, 1)]]  # fmt: skip
    assert {len(k) for k in keys} == {39}
    for kind, status in [("refund_answered", "SUCCESS"), ("refund_requested", None), ("rejected_local", None),
                         ("result", "SUBMITTED"), ("cancel_answered", "FAILED")]:  # fmt: skip
        event = OrderEvent(mid="m", order_id="o1", kind=kind, event_key="k", status=status, flex_time=T0)
        assert (event.status_candidate(), event.sort_key()) == (None, None), kind
