"""
"What if" patches for the benches: the fixes proposed to the owners of other modules, applied in the bench
process only when ``FLEX_BENCH_WHATIF=1``, so a run can show the figure the fix would give before the
owner lands it. Never imported by the provider. Each patch is the exact code proposed in
docs/benchmarks.md ("Change requests").

* ``stage_rows_copy``: ``flex_provider.merchant.db.stage_rows`` loads the staging table with COPY
  (psycopg 3 ``cursor.copy`` / psycopg2 ``copy_expert``) instead of a per-row ``executemany`` of a
  ``text()`` INSERT (SQLAlchemy sends text() executemany row by row).
* ``ledger_stage_psycopg3``: ``FlexLedger._stage`` takes its COPY path on psycopg 3 too (the engine of
  an Airflow ``postgres`` connection is ``postgresql+psycopg``, which has no ``copy_expert``).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Sequence
from typing import Any


def _copy_rows(conn: Any, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int | None:
    """COPY rows into ``table`` on psycopg 3 or psycopg2; None when the driver has no COPY (SQLite)."""
    from flex_provider.batch.ledger import _copy_text

    raw = conn.connection.dbapi_connection
    if conn.dialect.name != "postgresql" or raw is None:
        return None
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    total = 0
    cur = raw.cursor()
    try:
        if hasattr(cur, "copy"):  # psycopg 3
            with cur.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)
                    total += 1
            return total
        if hasattr(cur, "copy_expert"):  # psycopg2
            buf = io.StringIO()
            for row in rows:
                buf.write("\t".join(_copy_text(v) for v in row))
                buf.write("\n")
                total += 1
            buf.seek(0)
            cur.copy_expert(sql, buf)
            return total
    finally:
        cur.close()
    return None


def stage_rows_copy(conn: Any, name: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Proposed ``flex_provider.merchant.db.stage_rows``: COPY on PostgreSQL, executemany elsewhere."""
    rows = list(rows) if conn.dialect.name == "postgresql" else rows
    done = _copy_rows(conn, name, columns, rows)
    if done is not None:
        return done
    return _ORIGINAL["stage_rows"](conn, name, columns, rows)  # type: ignore[no-any-return]


def ledger_stage_psycopg3(self: Any, conn: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    """Proposed ``FlexLedger._stage``: COPY on psycopg 3 as on psycopg2, executemany elsewhere."""
    if not rows:
        return
    names = [c.name for c in table.columns]
    done = _copy_rows(conn, table.name, names, ([r.get(n) for n in names] for r in rows))
    if done is None:
        _ORIGINAL["ledger_stage"](self, conn, table, rows)
        return
    conn.exec_driver_sql(f"ANALYZE {table.name}")


_ORIGINAL: dict[str, Any] = {}


def apply() -> list[str]:
    """Install the patches when FLEX_BENCH_WHATIF=1; return the names of those installed."""
    if os.environ.get("FLEX_BENCH_WHATIF") != "1":
        return []
    import flex_provider.merchant.db as mdb
    from flex_provider.batch.ledger import FlexLedger

    _ORIGINAL.setdefault("stage_rows", mdb.stage_rows)
    _ORIGINAL.setdefault("ledger_stage", FlexLedger._stage)
    mdb.stage_rows = stage_rows_copy
    FlexLedger._stage = ledger_stage_psycopg3  # type: ignore[method-assign]
    return ["merchant.db.stage_rows -> COPY", "FlexLedger._stage -> COPY on psycopg 3"]
