"""``flex_provider.pg_copy``: COPY into PostgreSQL through either driver, streamed, exact values back.

Real PostgreSQL (the machine's server), both drivers an Airflow ``postgres`` connection may bring
(psycopg2 and psycopg 3), and SQLite, where nothing may be consumed (callers insert instead).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from sqlalchemy import create_engine, text

from flex_provider.pg_copy import copy_chunks, copy_rows, copy_text

ODD = ["plain", "tab\there", "new\nline", "back\\slash", "back\\slash \\N", "cr\rhere", "quote\"s, comma", "", None, "ünï"]
DRIVERS = ("psycopg2", "psycopg")


@pytest.fixture(params=DRIVERS)
def engine(request, pg_database):
    engine = create_engine(f"postgresql+{request.param}://postgres@127.0.0.1:5432/{pg_database}")
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS copy_t"))
        conn.execute(text("CREATE TABLE copy_t (n integer, s text, at timestamptz)"))
    yield engine
    engine.dispose()


def _read(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT n, s, at FROM copy_t ORDER BY n"))]


def test_copy_rows_keeps_every_odd_text_and_null(engine) -> None:
    at = datetime(2026, 11, 30, 23, 59, 58, tzinfo=timezone.utc)
    rows = [(i, s, at if i % 2 else None) for i, s in enumerate(ODD)]
    with engine.begin() as conn:
        assert copy_rows(conn, "copy_t", ("n", "s", "at"), iter(rows)) == len(rows)
    assert _read(engine) == rows


def test_copy_rows_streams_past_one_chunk(engine) -> None:
    n = 40_000  # ~1.3 MB of text: more than one chunk on psycopg2
    with engine.begin() as conn:
        assert copy_rows(conn, "copy_t", ("n", "s", "at"), ((i, "x" * 30, None) for i in range(n))) == n
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*), count(DISTINCT n), max(n) FROM copy_t")).one() == (n, n, n - 1)


def test_copy_chunks_csv_empty_field_is_null(engine) -> None:
    with engine.begin() as conn:
        assert copy_chunks(conn, "copy_t", ("n", "s"), [b'1,"a,b"\n2,\n', b'3,"say ""hi"""\n'])
    assert [r[:2] for r in _read(engine)] == [(1, "a,b"), (2, None), (3, 'say "hi"')]


def test_an_error_producing_a_chunk_is_raised_as_itself_and_nothing_is_stored(engine) -> None:
    class BadRow(ValueError):
        pass

    def chunks() -> Iterator[bytes]:
        yield b"1,a\n"
        raise BadRow("row 2 is malformed")

    with pytest.raises(BadRow, match="row 2 is malformed"), engine.begin() as conn:
        copy_chunks(conn, "copy_t", ("n", "s"), chunks())
    assert _read(engine) == []


def test_sqlite_consumes_nothing(tmp_path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    consumed = []

    def rows():
        consumed.append(1)
        yield (1, "a", None)

    with engine.begin() as conn:
        assert copy_rows(conn, "t", ("n", "s", "at"), rows()) is None
        assert copy_chunks(conn, "t", ("n", "s"), rows()) is False
    assert consumed == []


def test_copy_text_escapes() -> None:
    assert copy_text(None) == "\\N"
    assert copy_text("a\tb\nc\\d\re") == "a\\tb\\nc\\\\d\\re"
    assert copy_text(datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)) == "2026-01-02T03:04:05+00:00"
