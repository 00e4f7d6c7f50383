"""The projection (flex_provider.ledger.projection): states into the merchant's books, once; a rerun changes nothing."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import select

from flex_provider.ledger import FlexLedger, OrderEvent
from flex_provider.ledger.projection import mark_name, project
from flex_provider.merchant.schema import orders
from tests.unit.ledger.facts import PROJECT_SQL, merchant_db

DAY = date(2026, 11, 24)
T0 = datetime(2026, 11, 24, 6, tzinfo=timezone.utc)
FILE = "evaluate_m_20261124_0001.json"


def _books(engine: Any) -> dict[str, tuple[Any, ...]]:
    cols = (
        orders.c.status,
        orders.c.flex_status,
        orders.c.flex_confirmation_id,
        orders.c.refunded_amount_cents,
    )
    with engine.connect() as conn:
        return {r[0]: tuple(r[1:]) for r in conn.execute(select(orders.c.order_id, *cols))}


def _facts(mid: str, oid: str, *, approved: bool, refund: int = 0) -> list[OrderEvent]:
    out = [
        OrderEvent(mid=mid, order_id=oid, kind="shipped", event_key=f"{FILE}:{oid}", status="SHIPPED",
                   flex_time=T0, business_date=DAY, file_name=FILE, expiry_at=T0 + timedelta(days=21)),
        OrderEvent(mid=mid, order_id=oid, kind="ack", event_key=f"{FILE}:1:{oid}:SUBMITTED", status="SUBMITTED",
                   order_session_key=f"osk-{oid}", flex_time=T0 + timedelta(hours=1)),
    ]  # fmt: skip
    if approved:
        out.append(OrderEvent(mid=mid, order_id=oid, kind="result", event_key=f"r:{oid}", status="APPROVED",
                              confirmation_id=f"C-{oid}", amount_minor=1999, currency="USD",
                              flex_time=T0 + timedelta(days=2)))  # fmt: skip
    if refund:
        out.append(OrderEvent(mid=mid, order_id=oid, kind="refund_answered", event_key=f"tx-{oid}", status="SUCCESS",
                              amount_minor=refund, currency="USD", flex_time=T0 + timedelta(days=3)))  # fmt: skip
    return out


def test_projection_writes_the_books_once_and_a_rerun_changes_nothing(
    ledger: FlexLedger, mid: str, tmp_path: Path
) -> None:
    merchant = merchant_db(tmp_path / "m.db", ["a", "b", "c"])
    ledger.append_events(_facts(mid, "a", approved=True, refund=500) + _facts(mid, "b", approved=False))
    first = project(ledger, merchant, PROJECT_SQL, mid=mid)
    assert (first["staged"], first["updated"]) == (2, 2)
    books = _books(merchant)
    assert books == {
        "a": ("PAID", "APPROVED", "C-a", 500),
        "b": ("PENDING_FLEX", "SUBMITTED", None, 0),
        "c": ("DECLINED", None, None, 0),  # never shipped: untouched
    }
    again = project(ledger, merchant, PROJECT_SQL, mid=mid)  # nothing new above the watermark
    assert (again["staged"], again["updated"]) == (0, 0)
    full = project(ledger, merchant, PROJECT_SQL, mid=mid, full=True)  # every state again: rows already agree
    assert (full["staged"], full["updated"]) == (2, 0)
    assert _books(merchant) == books

    # a new fact moves only its order; the watermark is the highest state seq projected
    ledger.append_events(_facts(mid, "b", approved=True))
    later = project(ledger, merchant, PROJECT_SQL, mid=mid)
    assert (later["staged"], later["updated"]) == (1, 1)
    assert _books(merchant)["b"] == ("PAID", "APPROVED", "C-b", 0)
    assert ledger.get_mark(mark_name(mid)) == later["watermark"] > first["watermark"]
    merchant.dispose()


def test_projecting_chosen_orders_leaves_the_watermark(ledger: FlexLedger, mid: str, tmp_path: Path) -> None:
    merchant = merchant_db(tmp_path / "m.db", ["a", "b"])
    ledger.append_events(_facts(mid, "a", approved=True) + _facts(mid, "b", approved=True))
    some = project(ledger, merchant, PROJECT_SQL, mid=mid, order_ids=["a"])
    assert (some["staged"], some["updated"], ledger.get_mark(mark_name(mid))) == (1, 1, 0)
    assert _books(merchant)["b"][0] == "DECLINED"
    rest = project(ledger, merchant, PROJECT_SQL, mid=mid)  # the watermark did not move: both are staged
    assert (rest["staged"], rest["updated"]) == (2, 1)
    merchant.dispose()
