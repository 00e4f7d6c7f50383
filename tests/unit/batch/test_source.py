"""
Streaming an extract (flex_provider.batch.source): every row once, in order, in chunks of about
``chunk_rows``; a ``limit`` stops early; bind parameters compare as through the driver.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from flex_provider.batch.source import arrow_chunks

SQL = "SELECT order_id, amount_cents, declined_at FROM {t} WHERE declined_at >= :since ORDER BY order_id"


@pytest.fixture(params=["sqlite", "postgres"])
def declines(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Engine, str]]:
    """A table of 2,500 declines (half before the window) on SQLite or the session's PostgreSQL database."""
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
        ts = "TEXT"
    else:
        engine = create_engine(request.getfixturevalue("pg_url"))
        ts = "TIMESTAMPTZ"
    table = f"declines_{uuid.uuid4().hex[:8]}"
    rows = [{"o": f"o{i:05d}", "a": 1000 + i, "t": f"2026-11-{23 + i % 2}T06:00:00Z"} for i in range(2500)]
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {table} (order_id TEXT, amount_cents BIGINT, declined_at {ts})"))
        conn.execute(text(f"INSERT INTO {table} VALUES (:o, :a, :t)"), rows)
    yield engine, table
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE {table}"))
    engine.dispose()


def test_every_row_comes_once_in_order_in_chunks(declines: tuple[Engine, str]) -> None:
    engine, table = declines
    chunks = list(
        arrow_chunks(engine, SQL.format(t=table), {"since": "2026-11-24T00:00:00Z"}, chunk_rows=500)
    )
    ids = [o for c in chunks for o in c.column("order_id").to_pylist()]
    assert ids == [f"o{i:05d}" for i in range(1, 2500, 2)]  # the odd ones are on the 24th
    assert [a for c in chunks for a in c.column("amount_cents").to_pylist()] == [
        1000 + i for i in range(1, 2500, 2)
    ]
    assert all(c.num_rows >= 500 for c in chunks[:-1])
    assert 1 <= len(chunks) <= 3


def test_a_limit_stops_after_that_many_rows(declines: tuple[Engine, str]) -> None:
    engine, table = declines
    chunks = list(
        arrow_chunks(engine, SQL.format(t=table), {"since": "2026-11-01"}, chunk_rows=100, limit=250)
    )
    assert sum(c.num_rows for c in chunks) == 250
    assert chunks[0].column("order_id")[0].as_py() == "o00000"
    assert list(arrow_chunks(engine, SQL.format(t=table), {"since": "2027-01-01T00:00:00Z"})) == []
