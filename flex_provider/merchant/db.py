"""Small SQL helpers the batch operators share: an engine per Airflow connection, staging, SQL scripts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

STAGE_BATCH = 5000


def engine_for_conn(conn_id: str) -> Engine:
    """SQLAlchemy engine of an Airflow SQL connection (``postgres``, ``sqlite``, or extra ``sqlalchemy_url``)."""
    from airflow.sdk import BaseHook
    from sqlalchemy import create_engine

    conn = BaseHook.get_connection(conn_id)
    extra = conn.extra_dejson or {}
    if extra.get("sqlalchemy_url"):
        return create_engine(str(extra["sqlalchemy_url"]))
    if conn.conn_type == "sqlite":
        path = conn.host or conn.schema or ""
        if path.startswith("sqlite:"):
            return create_engine(path)
        return create_engine(f"sqlite:///{path}" if path else "sqlite://")
    if conn.conn_type in ("postgres", "postgresql"):
        from sqlalchemy.engine import URL

        url = URL.create(
            "postgresql+psycopg2",
            username=conn.login or None,
            password=conn.password or None,
            host=conn.host or None,
            port=conn.port or None,
            database=conn.schema or None,
        )
        return create_engine(url, pool_pre_ping=True)
    hook = conn.get_hook()
    get_engine = getattr(hook, "get_sqlalchemy_engine", None)
    if get_engine is None:
        raise ValueError(f"Connection {conn_id!r} ({conn.conn_type}) is not a SQL connection")
    return get_engine()


def same_database(a: Engine, b: Engine) -> bool:
    """True when two engines reach the same database (dialect, host, port, database), drivers aside."""
    ua, ub = a.url, b.url
    return (
        a.dialect.name == b.dialect.name
        and (ua.host, ua.port, ua.database, ua.username) == (ub.host, ub.port, ub.database, ub.username)
        and ua.database not in (None, "", ":memory:")
    )


def utc_text(value: datetime | None = None) -> str:
    """An instant as ``YYYY-MM-DDTHH:MM:SSZ`` (sortable text on SQLite, parsed by PostgreSQL)."""
    value = value or datetime.now(timezone.utc)
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


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
        from flex_provider.ledger.schema import copy_rows

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
