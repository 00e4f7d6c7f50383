"""
The one projection of order states into the merchant's books.

:func:`project` stages the states that changed since the last projection (``flex_order_state.seq`` above
the stored watermark ``project:<mid>``), or the ones asked for, into the merchant DB's session temp table
``flex_stage_orders`` and runs the adaptable SQL (``dags/sql/project_orders.sql``) that applies them with
``UPDATE ... FROM`` where the merchant row differs. When ledger and merchant share a PostgreSQL database
the states are staged server-side (``INSERT ... SELECT``); otherwise they stream through Python in a COPY
(PostgreSQL) or ``executemany`` (SQLite). The watermark moves only after the merchant transaction
committed, so a crash in between re-projects, and re-projecting changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Select, bindparam, column, func, insert, or_, select, table
from sqlalchemy.engine import Engine

from flex_provider.ledger.schema import order_state, utc

PROJECT_STAGE = "flex_stage_orders"
PROJECT_TYPES = (
    ("order_id", "text"),
    ("state", "text"),
    ("business_date", "date"),
    ("batch_file", "text"),
    ("sent_at", "ts"),
    ("expiry_at", "ts"),
    ("order_session_key", "text"),
    ("confirmation_id", "text"),
    ("settled_at", "ts"),
    ("local_reason", "text"),
    ("flex_error", "text"),
    ("refunded_minor", "int"),
)
PROJECT_COLUMNS = tuple(c for c, _ in PROJECT_TYPES)


def mark_name(mid: str | None) -> str:
    """The watermark of the projection of one merchant's states (``*``: every merchant in the ledger)."""
    return f"project:{mid or '*'}"


def states_query(
    *, mid: str | None, after_seq: int | None, order_ids: Sequence[str] | None
) -> Select[Any]:
    """The staged columns of the states to project (shipped or locally rejected orders only)."""
    s = order_state
    query = select(
        s.c.order_id,
        s.c.status,
        func.coalesce(s.c.business_date, s.c.local_date),
        s.c.batch_file,
        s.c.sent_at,
        s.c.expiry_at,
        s.c.order_session_key,
        s.c.confirmation_id,
        s.c.settled_at,
        s.c.local_reason,
        s.c.flex_error,
        s.c.refunded_minor,
    ).where(or_(s.c.sent_at.is_not(None), s.c.local_reason.is_not(None)))
    if mid is not None:
        query = query.where(s.c.mid == mid)
    if after_seq is not None:
        query = query.where(s.c.seq > after_seq)
    if order_ids is not None:
        query = query.where(s.c.order_id.in_(bindparam("order_ids", list(order_ids), expanding=True)))
    return query


def _python_rows(ledger: Any, query: Select[Any]) -> Iterator[tuple[Any, ...]]:
    from flex_provider.merchant.db import utc_text

    with ledger.engine.connect() as conn:
        for row in conn.execution_options(yield_per=5000).execute(query):
            values = list(row)
            for i in (4, 5, 8):
                values[i] = utc_text(utc(values[i])) if values[i] is not None else None
            if values[2] is not None:
                values[2] = str(values[2])[:10]
            yield tuple(values)


def project(
    ledger: Any,
    merchant: Engine,
    sql: str,
    *,
    mid: str | None = None,
    order_ids: Sequence[str] | None = None,
    full: bool = False,
) -> dict[str, Any]:
    """
    Project states into the merchant DB; returns ``staged`` and ``updated`` (merchant rows written).

    :param sql: the projection script (comments stripped; bind parameter ``:now``).
    :param order_ids: only these orders (the watermark stays where it is).
    :param full: ignore the watermark: every selected state (a replay).
    """
    from flex_provider.merchant.db import run_script, same_database, stage_rows, staging_table, utc_text

    ledger._ensure()
    name = mark_name(mid)
    mark = ledger.get_mark(name)
    with ledger.engine.connect() as conn:
        top = conn.execute(select(func.coalesce(func.max(order_state.c.seq), 0))).scalar_one()
    after = None if (full or order_ids is not None) else mark
    query = states_query(mid=mid, after_seq=after, order_ids=order_ids)
    query = query.where(order_state.c.seq <= top)
    server_side = merchant.dialect.name == "postgresql" and same_database(merchant, ledger.engine)
    with merchant.begin() as conn, staging_table(conn, PROJECT_STAGE, PROJECT_TYPES):
        if server_side:
            stage = table(PROJECT_STAGE, *(column(c) for c in PROJECT_COLUMNS))
            staged = conn.execute(insert(stage).from_select(list(PROJECT_COLUMNS), query)).rowcount
            conn.exec_driver_sql(f"ANALYZE {PROJECT_STAGE}")
        else:
            staged = stage_rows(conn, PROJECT_STAGE, PROJECT_COLUMNS, _python_rows(ledger, query))
        counts = run_script(conn, sql, {"now": utc_text()}) if staged else []
    if order_ids is None and top > mark:
        ledger.set_mark(name, int(top))
    return {
        "staged": int(staged),
        "updated": sum(c for c in counts if c and c > 0),
        "watermark": int(max(top, mark) if order_ids is None else mark),
        "server_side": server_side,
    }


__all__ = ["PROJECT_COLUMNS", "PROJECT_STAGE", "PROJECT_TYPES", "mark_name", "project", "states_query"]
