"""Small SQL helpers the batch operators share: an engine per Airflow connection, staging, SQL scripts.

``utc_text`` (from :mod:`flex_provider.utc`) stays importable from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from flex_provider.engines import sql_engine
from flex_provider.utc import utc_text

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

__all__ = ["engine_for_conn", "run_script", "same_database", "split_statements", "stage_rows",
           "staging_table", "table_exists", "utc_text"]

STAGE_BATCH = 5000


def engine_for_conn(conn_id: str) -> Engine:
    """SQLAlchemy engine of an Airflow SQL connection (see :func:`flex_provider.engines.sql_engine`)."""
    return sql_engine(conn_id)


def same_database(a: Engine, b: Engine) -> bool:
    """True when two engines reach the same database (dialect, host, port, database), drivers aside."""
    ua, ub = a.url, b.url
    return (
        a.dialect.name == b.dialect.name
        and (ua.host, ua.port, ua.database, ua.username) == (ub.host, ub.port, ub.database, ub.username)
        and ua.database not in (None, "", ":memory:")
    )


def split_statements(sql: str) -> list[str]:
    """Split a SQL script into statements, comments stripped (a ``:name`` in a comment binds nothing)."""
    import sqlparse

    out = []
    for stmt in sqlparse.split(sqlparse.format(sql, strip_comments=True)):
        body = stmt.strip().rstrip(";").strip()
        if body:
            out.append(body)
    return out


def run_script(conn: Connection, sql: str, params: Mapping[str, Any]) -> list[int]:
    """Run every statement of ``sql`` on ``conn`` with the bind parameters it uses; returns rowcounts."""
    from sqlalchemy import text

    counts = []
    for stmt in split_statements(sql):
        clause = text(stmt)
        used = {k: v for k, v in params.items() if k in clause._bindparams}
        counts.append(conn.execute(clause, used).rowcount)
    return counts


_TYPES = {
    "postgresql": {"text": "VARCHAR(255)", "ts": "TIMESTAMP WITH TIME ZONE", "date": "DATE", "int": "BIGINT"},
    "sqlite": {"text": "TEXT", "ts": "TEXT", "date": "TEXT", "int": "INTEGER"},
}


@contextmanager
def staging_table(conn: Connection, name: str, columns: Sequence[tuple[str, str]]) -> Iterator[None]:
    """
    A session TEMP table ``name``, dropped on exit.

    :param columns: (name, logical type) pairs; types ``text``, ``ts`` (ISO text in, timestamptz on
        PostgreSQL), ``date`` and ``int``.
    """
    from sqlalchemy import text

    types = _TYPES.get(conn.dialect.name, _TYPES["postgresql"])
    conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
    cols = ", ".join(f"{col} {types[typ]}" for col, typ in columns)
    conn.execute(text(f"CREATE TEMPORARY TABLE {name} ({cols})"))
    try:
        yield
    finally:
        conn.execute(text(f"DROP TABLE IF EXISTS {name}"))


def stage_rows(conn: Connection, name: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """
    Load rows into a staging table; returns the row count.

    PostgreSQL: one COPY (psycopg 3 ``cursor.copy`` or psycopg2 ``copy_expert``), then ``ANALYZE`` (temp
    tables are never auto-analyzed). Elsewhere (SQLite): ``executemany`` in batches of ``STAGE_BATCH``.
    """
    from sqlalchemy import text

    if conn.dialect.name == "postgresql":
        from flex_provider.pg_copy import copy_rows

        done = copy_rows(conn, name, columns, rows)
        if done is not None:
            conn.exec_driver_sql(f"ANALYZE {name}")
            return done
    stmt = text(f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})")
    total = 0
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(dict(zip(columns, row, strict=True)))
        if len(batch) >= STAGE_BATCH:
            conn.execute(stmt, batch)
            total += len(batch)
            batch = []
    if batch:
        conn.execute(stmt, batch)
        total += len(batch)
    return total


def table_exists(engine: Engine, name: str) -> bool:
    """True when ``name`` exists in the database of ``engine``."""
    from sqlalchemy import inspect

    return inspect(engine).has_table(name)
