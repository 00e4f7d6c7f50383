"""
Stream a SQL query's rows as Arrow tables of about ``chunk_rows`` rows, whatever the database.

PostgreSQL and SQLite go through their ADBC drivers (``adbc-driver-postgresql`` streams PostgreSQL's
binary COPY straight into Arrow record batches; ``adbc-driver-sqlite``); any other SQLAlchemy database
through a server-side cursor, its rows turned into Arrow a chunk at a time. Bind parameters
(``:window_start``) are rendered as SQL literals by SQLAlchemy's dialect, so an untyped text such as
``'2026-11-24T00:00:00Z'`` compares with a ``timestamptz`` column exactly as it does through psycopg.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import Any

import pyarrow as pa
from sqlalchemy import Engine, text

from flex_provider.prefetch import prefetched


def _literal_sql(engine: Engine, sql: str, parameters: Mapping[str, Any]) -> str:
    """``sql`` with its ``:name`` parameters rendered as literals of ``engine``'s dialect."""
    params = {k: (v.isoformat() if isinstance(v, (datetime, date)) else v) for k, v in parameters.items()}
    statement = text(sql)
    wanted = set(statement._bindparams)
    statement = statement.bindparams(**{k: v for k, v in params.items() if k in wanted})
    return str(statement.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))


def _adbc_batches(engine: Engine, sql: str) -> Iterator[pa.RecordBatch]:
    backend = engine.url.get_backend_name()
    if backend == "postgresql":
        import adbc_driver_postgresql.dbapi as driver

        uri = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        conn = driver.connect(uri)
    else:
        import adbc_driver_sqlite.dbapi as driver

        conn = driver.connect(engine.url.database or ":memory:")
    try:
        cur = conn.cursor()
        cur.execute(sql)
        reader = cur.fetch_record_batch()
        yield from reader
        cur.close()
    finally:
        conn.close()


def _sqlalchemy_batches(engine: Engine, sql: str, chunk_rows: int) -> Iterator[pa.RecordBatch | pa.Table]:
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=chunk_rows).execute(text(sql))
        keys = list(result.keys())
        for part in result.partitions(chunk_rows):
            columns = list(zip(*part, strict=True)) if part else [() for _ in keys]
            arrays = {}
            for name, values in zip(keys, columns, strict=True):
                try:
                    arrays[name] = pa.array(values)
                except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types: as text, cast later
                    arrays[name] = pa.array([None if v is None else str(v) for v in values], pa.string())
            yield pa.table(arrays)


def arrow_chunks(
    engine: Engine,
    sql: str,
    parameters: Mapping[str, Any] | None = None,
    *,
    chunk_rows: int = 20_000,
    limit: int | None = None,
) -> Iterator[pa.Table]:
    """
    The rows of ``sql`` on ``engine`` as Arrow tables of ``chunk_rows`` rows (the last one shorter).

    :param limit: stop after this many rows (None: all).
    """
    rendered = _literal_sql(engine, sql, parameters or {})
    if engine.url.get_backend_name() in ("postgresql", "sqlite"):
        source: Iterator[Any] = _adbc_batches(engine, rendered)
    else:
        source = _sqlalchemy_batches(engine, rendered, chunk_rows)
    pending: list[Any] = []
    rows = seen = 0
    for batch in prefetched(source, name="flex-extract"):
        if limit is not None and seen + batch.num_rows > limit:
            batch = batch.slice(0, limit - seen)
        pending.append(batch)
        rows += batch.num_rows
        seen += batch.num_rows
        if rows >= chunk_rows:
            yield _table(pending)
            pending, rows = [], 0
        if limit is not None and seen >= limit:
            break
    if rows:
        yield _table(pending)


def _table(parts: list[Any]) -> pa.Table:
    tables = [p if isinstance(p, pa.Table) else pa.Table.from_batches([p]) for p in parts]
    return pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]
