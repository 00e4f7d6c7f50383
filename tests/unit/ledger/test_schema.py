"""The ledger's tables and helpers (flex_provider.ledger.schema): file numbers, IN-list batches, COPY text."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone

from sqlalchemy import create_engine, text

from flex_provider.ledger.schema import batches, copy_rows, file_number


def test_file_number_is_the_four_digits_before_the_extension() -> None:
    assert file_number("evaluate_6c5b_20261124_0001.json") == 1
    assert file_number("transmit_m_20261124_0123.csv") == 123
    assert file_number("evaluate_m_20261124_12345.json") == 12345
    assert file_number("evaluate_m_20261124_001.json") is None


def test_batches_cut_without_losing_or_repeating_items() -> None:
    assert list(batches(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(batches(iter(range(6)), 3)) == [[0, 1, 2], [3, 4, 5]]
    assert list(batches([], 3)) == []


def test_copy_rows_stores_awkward_text_as_given_on_postgres(pg_url: str) -> None:
    """COPY text escaping: tabs, newlines, backslashes and NULL come back as they went in."""
    engine = create_engine(pg_url)
    table = f"copy_test_{uuid.uuid4().hex[:8]}"
    rows = [
        (
            "a\tb",
            "line1\nline2\r",
            None,
            date(2026, 11, 24),
            datetime(2026, 11, 24, 6, 0, 0, 5, tzinfo=timezone.utc),
        ),
        ("back\\slash \\N", "", "x", None, None),
    ]
    try:
        with engine.begin() as conn:
            conn.execute(text(f"CREATE TABLE {table} (a text, b text, c text, d date, t timestamptz)"))
            assert copy_rows(conn, table, ["a", "b", "c", "d", "t"], iter(rows)) == 2
            got = conn.execute(text(f"SELECT a, b, c, d, t FROM {table} ORDER BY a")).all()
            conn.execute(text(f"DROP TABLE {table}"))
        assert [tuple(r) for r in got] == rows
    finally:
        engine.dispose()

