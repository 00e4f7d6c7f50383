"""The order book (flex_provider.ledger.orders): acks and results append events; a status never moves back."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from flex_provider.ledger import FlexLedger, OrderEvent, order_state
from flex_provider.models.batch import ResultRow
from tests.unit.ledger.facts import ack, ship, statuses

DAY = date(2026, 11, 24)
T0 = datetime(2026, 11, 24, 6, tzinfo=timezone.utc)
FILE = "evaluate_m_20261124_0001.json"


def test_status_never_moves_backwards(ledger: FlexLedger, mid: str) -> None:
    name = f"evaluate_{mid}_20261124_0001.json"
    ship(ledger, mid, name, 6)
    orders = [f"o{i}" for i in range(6)]
    counts = ledger.apply_ack(ack(mid, name, {o: ("REJECTED" if o == "o5" else "SUBMITTED") for o in orders}))
    assert counts["updated"] == 6
    assert ledger.file_state(name) == "acknowledged"
    assert statuses(ledger, mid, orders) == ["SUBMITTED"] * 5 + ["REJECTED"]

    first = [
        ResultRow(
            order_id="o0", order_session_key="osk-o0", status="APPROVED", confirmation_id="C0", amount=1999
        ),
        ResultRow(order_id="o1", status="EXPIRED"),
        ResultRow(order_id="o2", status="APPROVED"),
        ResultRow(order_id="o2", status="EXPIRED"),  # conflicting second outcome in the same file: ignored
        ResultRow(order_id="o3", status="APPROVED"),
        ResultRow(order_id="o3", status="REFUNDED"),  # refund after approval in the same file: applies
        ResultRow(order_id="ghost", status="APPROVED"),
    ]
    # o3's two outcomes land in one batch: one row changed, the superseded APPROVED counts as ignored
    assert ledger.apply_results(first, mid=mid, batch_size=3) == {
        "received": 7,
        "applied": 4,
        "ignored": 2,
        "unknown": 1,
    }
    assert statuses(ledger, mid, orders) == [
        "APPROVED",
        "EXPIRED",
        "APPROVED",
        "REFUNDED",
        "SUBMITTED",
        "REJECTED",
    ]

    later = [
        ResultRow(order_id="o0", status="EXPIRED"),  # same rank, no later Flex time: APPROVED stays
        ResultRow(order_id="o1", status="APPROVED"),
        ResultRow(order_id="o1", status="CANCELLED"),  # rank 4 beats any outcome (a fold, not arrival order)
        ResultRow(order_id="o2", status="CANCELLED"),  # a rescued order voided later
        ResultRow(order_id="o3", status="APPROVED"),  # REFUNDED is terminal
        ResultRow(order_id="o4", status="CANCELLED"),
    ]
    ledger.apply_results(later, mid=mid)
    assert statuses(ledger, mid, orders) == [
        "APPROVED",
        "CANCELLED",
        "CANCELLED",
        "REFUNDED",
        "CANCELLED",
        "REJECTED",
    ]
    # a replayed ack never reopens a final row
    ledger.apply_ack(ack(mid, name, dict.fromkeys(orders, "SUBMITTED")))
    assert statuses(ledger, mid, orders) == [
        "APPROVED",
        "CANCELLED",
        "CANCELLED",
        "REFUNDED",
        "CANCELLED",
        "SUBMITTED",
    ]
    row = ledger.rows_for_orders(mid, "evaluate", ["o0"])["o0"]
    assert (row["order_session_key"], row["confirmation_id"], row["amount"]) == ("osk-o0", "C0", 1999)
    # applying the same results again changes nothing
    again = ledger.apply_results(first, mid=mid)
    assert again["applied"] == 0
    assert again["unknown"] == 1


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_fact_staged_twice_in_one_append_is_stored_and_counted_once(
    backend: str, tmp_path: Path, request
) -> None:
    """
    A refund answer delivered twice in one batch (plus a fact already stored) stores each key once and
    adds the refund once: on PostgreSQL the anti-join insert meets the duplicate and is redone with
    ``ON CONFLICT DO NOTHING``.
    """
    url = f"sqlite:///{tmp_path / 'ledger.db'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    ledger = FlexLedger.from_url(url)
    mid = f"dup-{uuid.uuid4().hex}"
    shipped = OrderEvent(mid=mid, order_id="o1", kind="shipped", event_key=f"{FILE}:1", status="SHIPPED",
                         flex_time=T0, business_date=DAY, file_name=FILE, expiry_at=T0 + timedelta(days=21))  # fmt: skip
    approved = OrderEvent(mid=mid, order_id="o1", kind="result", event_key="r:1", status="APPROVED",
                          confirmation_id="C1", amount_minor=1000, currency="USD",
                          flex_time=T0 + timedelta(hours=5))  # fmt: skip
    refund = OrderEvent(mid=mid, order_id="o1", kind="refund_answered", event_key="tx-1", status="SUCCESS",
                        amount_minor=300, currency="USD", flex_time=T0 + timedelta(hours=9))  # fmt: skip
    try:
        assert ledger.append_events([shipped, approved]) == 2
        assert ledger.append_events([refund, shipped, refund]) == 1
        assert ledger.append_events([refund, refund]) == 0
        with ledger.engine.connect() as conn:
            state = conn.execute(select(order_state).where(order_state.c.mid == mid)).mappings().one()
        assert (state["status"], state["refunded_minor"], state["approved_minor"]) == ("APPROVED", 300, 1000)
        keys = [e["event_key"] for e in ledger.order_events(mid, "o1")]
        assert sorted(keys) == sorted([f"{FILE}:1", "r:1", "tx-1"])
    finally:
        ledger.engine.dispose()
