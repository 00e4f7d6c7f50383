"""
Replay: re-fold stored events from scratch and re-project them, by business-date range or order id.

The events are the facts; the state and the merchant rows are derived. :func:`replay` picks the orders
(a ``shipped``/``rejected_local`` business date in ``[date_from, date_to]``, or the given order ids),
deletes their folded state and folds every one of their events again in one transaction, then projects
exactly those orders (the watermark stays). Because the fold is a function of the set of events and the
projection writes only what differs, replaying a day twice changes nothing the second time; a merchant
row edited or lost in between is written back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Column, MetaData, String, Table, select, text, update
from sqlalchemy.engine import Engine

from flex_provider.ledger.projection import project
from flex_provider.ledger.schema import IN_CHUNK, batches, ledger_marks, order_events
from flex_provider.ledger.state import fold

_md = MetaData()
replay_orders = Table(
    "flex_tmp_replay_orders",
    _md,
    Column("mid", String(64), nullable=False),
    Column("order_id", String(255), nullable=False),
    prefixes=["TEMPORARY"],
)


def select_orders(
    ledger: Any,
    *,
    mid: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    order_ids: Sequence[str] | None = None,
) -> list[tuple[str, str]]:
    """(mid, order id) of the orders a replay covers."""
    e = order_events
    query = select(e.c.mid, e.c.order_id).distinct()
    if order_ids:
        query = query.where(e.c.order_id.in_(list(order_ids)))
    if date_from is not None or date_to is not None:
        query = query.where(e.c.kind.in_(("shipped", "evaluated", "rejected_local")))
        if date_from is not None:
            query = query.where(e.c.business_date >= date_from)
        if date_to is not None:
            query = query.where(e.c.business_date <= date_to)
    if mid is not None:
        query = query.where(e.c.mid == mid)
    if not order_ids and date_from is None and date_to is None:
        raise ValueError("replay needs a business-date range or order ids")
    with ledger._begin() as conn:
        return [(m, o) for m, o in conn.execute(query.order_by(e.c.mid, e.c.order_id)).all()]


def replay(
    ledger: Any,
    merchant: Engine,
    sql: str,
    *,
    mid: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    order_ids: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Re-fold and re-project the chosen orders; returns ``orders``, ``changed`` states, ``updated`` rows."""
    picked = select_orders(ledger, mid=mid, date_from=date_from, date_to=date_to, order_ids=order_ids)
    out: dict[str, Any] = {"orders": len(picked), "changed": 0, "staged": 0, "updated": 0}
    if not picked:
        return out
    with ledger._begin() as conn:
        # the same lock as an append: no fact arrives for these orders while they are re-folded
        conn.execute(
            update(ledger_marks).where(ledger_marks.c.name == "append").values(value=ledger_marks.c.value + 1)
        )
        replay_orders.create(conn, checkfirst=True)
        conn.execute(replay_orders.delete())
        for batch in batches(picked, 5000):
            conn.execute(replay_orders.insert(), [{"mid": m, "order_id": o} for m, o in batch])
        before = {
            (r.mid, r.order_id): tuple(r)
            for r in conn.execute(
                text(
                    "SELECT s.* FROM flex_order_state s JOIN flex_tmp_replay_orders t "
                    "ON t.mid = s.mid AND t.order_id = s.order_id"
                )
            )
        }
        fold(conn, orders_table=replay_orders.name)
        after = conn.execute(
            text(
                "SELECT s.* FROM flex_order_state s JOIN flex_tmp_replay_orders t "
                "ON t.mid = s.mid AND t.order_id = s.order_id"
            )
        ).all()
        out["changed"] = sum(1 for r in after if before.get((r.mid, r.order_id)) != tuple(r))
        replay_orders.drop(conn)
    by_mid: dict[str, list[str]] = {}
    for m, o in picked:
        by_mid.setdefault(m, []).append(o)
    for m, ids in by_mid.items():
        for batch in batches(ids, IN_CHUNK):
            done = project(ledger, merchant, sql, mid=m, order_ids=batch, full=True)
            out["staged"] += done["staged"]
            out["updated"] += done["updated"]
    return out
