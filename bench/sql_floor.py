"""
One bench floor as SQL alone: a staged COPY, then the ledger's statements under its append lock, each
timed, in one transaction (``bench/reconcile.py`` and ``bench/ship_floors.py`` build theirs on it).

The ``minimal`` variant first drops the events table's secondary keys (its idempotency key and its
per-order index) and is rolled back at the end, so the tables keep them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bench.common import timed

#: The events table with its primary key only: the least any ledger of events writes.
MINIMAL_EVENTS_DDL = (
    "ALTER TABLE flex_order_events DROP CONSTRAINT uq_flex_order_events_key",
    "DROP INDEX ix_flex_order_events_order",
)
Step = Callable[[Any, int], object]


def run_floor(
    url: str,
    *,
    stage: Callable[[Any], object],
    steps: Sequence[tuple[str, Step]],
    check: Callable[[Any], dict[str, Any]],
    minimal: bool,
) -> dict[str, Any]:
    """
    ``stage(cursor)`` (a COPY into a temp table, on the driver's cursor), then each ``(name, step)`` as
    ``step(connection, before)`` (``before``: the highest event id before the append lock), then
    ``check(connection)``, whose dict is returned with every step's seconds (``<name>``, ``copy_temp_s``,
    ``wall_s``).
    """
    from sqlalchemy import create_engine, text

    from flex_provider.ledger.state import begin_append

    engine = create_engine(url)
    out: dict[str, Any] = {}
    try:
        with engine.connect() as conn:
            trans = conn.begin()
            with timed() as total:
                with timed() as t:
                    stage(conn.connection.dbapi_connection.cursor())  # type: ignore[union-attr]
                out["copy_temp_s"] = t()
                if minimal:
                    for ddl in MINIMAL_EVENTS_DDL:
                        conn.execute(text(ddl))
                before = begin_append(conn)
                for name, step in steps:
                    with timed() as t:
                        step(conn, before)
                    out[name] = t()
                checked = check(conn)
                if minimal:
                    trans.rollback()
                else:
                    trans.commit()
            out["wall_s"] = total()
    finally:
        engine.dispose()
    return {**out, **checked}
