"""Replay: re-fold stored events and re-project them; a second replay of the same day changes nothing."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import select, text, update
from typer.testing import CliRunner

from flex_provider.ledger import FlexLedger, OrderEvent, order_state
from flex_provider.ledger.__main__ import app
from flex_provider.ledger.projection import project
from flex_provider.ledger.replay import replay
from flex_provider.merchant.schema import orders
from tests.unit.ledger.facts import PROJECT_SQL, merchant_db

T0 = datetime(2026, 11, 1, 6, tzinfo=timezone.utc)


def _facts(mid: str, day: date, oid: str, outcome: str) -> list[OrderEvent]:
    name = f"evaluate_{mid}_{day:%Y%m%d}_0001.json"
    return [
        OrderEvent(mid=mid, order_id=oid, kind="shipped", event_key=f"{name}:1", status="SHIPPED", flex_time=T0,
                   business_date=day, file_name=name, expiry_at=T0 + timedelta(days=21)),
        OrderEvent(mid=mid, order_id=oid, kind="ack", event_key=f"{name}:1:{oid}:SUBMITTED", status="SUBMITTED",
                   order_session_key=f"osk-{oid}", flex_time=T0 + timedelta(hours=1)),
        OrderEvent(mid=mid, order_id=oid, kind="result", event_key=f"result_{oid}:1", status=outcome,
                   confirmation_id="C1" if outcome == "APPROVED" else None, amount_minor=1999, currency="USD",
                   flex_time=T0 + timedelta(days=3)),
        OrderEvent(mid=mid, order_id=oid, kind="refund_answered", event_key=f"tx-{oid}", status="SUCCESS",
                   amount_minor=500, currency="USD", flex_time=T0 + timedelta(days=4)),
    ]  # fmt: skip


def _rows(engine: Any) -> list[tuple[Any, ...]]:
    """Every merchant row, all columns but ``updated_at`` (a repair stamps it)."""
    cols = [c for c in orders.c if c.name != "updated_at"]
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(*cols).order_by(orders.c.id))]


def test_replay_repairs_and_a_second_replay_changes_nothing(
    ledger: FlexLedger, mid: str, tmp_path: Path
) -> None:
    d1, d2 = date(2026, 11, 1), date(2026, 11, 2)
    ledger.append_events(_facts(mid, d1, f"{mid}-a", "APPROVED") + _facts(mid, d2, f"{mid}-b", "EXPIRED"))
    merchant = merchant_db(tmp_path / "m.db", [f"{mid}-a", f"{mid}-b"])
    project(ledger, merchant, PROJECT_SQL, mid=mid)
    good = _rows(merchant)
    with merchant.connect() as conn:
        status, refunded = conn.execute(
            select(orders.c.status, orders.c.refunded_amount_cents).where(orders.c.order_id == f"{mid}-a")
        ).one()
    assert (status, refunded) == ("PAID", 500)
    with ledger.engine.connect() as conn:
        states = conn.execute(
            select(order_state).where(order_state.c.mid == mid).order_by(order_state.c.order_id)
        ).all()

    # Someone edits day 1's merchant row by hand; a replay of that day writes the books back.
    with merchant.begin() as conn:
        conn.execute(update(orders).where(orders.c.order_id == f"{mid}-a").values(
            flex_confirmation_id=None, refunded_amount_cents=0))  # fmt: skip
    first = replay(ledger, merchant, PROJECT_SQL, mid=mid, date_from=d1, date_to=d1)
    assert (first["orders"], first["changed"], first["updated"]) == (1, 0, 1)
    assert _rows(merchant) == good
    again = replay(ledger, merchant, PROJECT_SQL, mid=mid, date_from=d1, date_to=d1)
    assert (again["orders"], again["changed"], again["updated"]) == (1, 0, 0)
    assert _rows(merchant) == good
    with ledger.engine.connect() as conn:
        assert (
            conn.execute(
                select(order_state).where(order_state.c.mid == mid).order_by(order_state.c.order_id)
            ).all()
            == states
        )

    # A lost state is re-folded from the events alone (the CLI, by order id).
    with ledger.engine.begin() as conn:
        conn.execute(
            text("DELETE FROM flex_order_state WHERE mid = :m AND order_id = :o"), {"m": mid, "o": f"{mid}-b"}
        )
    result = CliRunner().invoke(
        app,
        ["replay", "--ledger-url", str(ledger.engine.url.render_as_string(hide_password=False)),
         "--merchant-url", f"sqlite:///{tmp_path / 'm.db'}", "--order-id", f"{mid}-b", "--mid", mid],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert '"orders": 1' in result.output
    assert '"updated": 0' in result.output
    with ledger.engine.connect() as conn:
        assert (
            conn.execute(
                select(order_state).where(order_state.c.mid == mid).order_by(order_state.c.order_id)
            ).all()
            == states
        )
    assert _rows(merchant) == good
