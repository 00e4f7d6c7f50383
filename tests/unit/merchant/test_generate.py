"""The demo data generator and the merchant SQL scripts, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from flex_provider.merchant.generate import generate
from flex_provider.merchant.schema import ddl

SQL = Path(__file__).resolve().parents[3] / "dags" / "sql"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'merchant.db'}"
    pg_url = request.getfixturevalue("pg_url")
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS orders, subscriptions, card_tokens, flex_recovery_summary"))
    engine.dispose()
    return pg_url


def test_generate_counts_and_bad_rows(url: str) -> None:
    result = generate(url, rows=400, days=4, end_date=date(2026, 11, 20), bad_share=0.05, seed=3)
    assert result.declines == 400
    assert result.approved == 200
    assert result.bad == {"missing_amount": 5, "bad_currency": 5, "pan_in_field": 5, "duplicate_order": 5}
    engine = create_engine(url)
    with engine.connect() as conn:
        by_status = dict(conn.execute(text("SELECT status, COUNT(*) FROM orders GROUP BY status")).all())
        assert by_status == {"DECLINED": 405, "PAID": 200}
        dups = conn.execute(
            text("SELECT COUNT(*) FROM (SELECT order_id FROM orders GROUP BY order_id HAVING COUNT(*) > 1) d")
        ).scalar_one()
        assert dups == 5
        assert conn.execute(text("SELECT COUNT(*) FROM orders WHERE amount_cents IS NULL")).scalar_one() == 5
        # one day's window, as the DAG binds it
        sql = (SQL / "extract_declined_mit.sql").read_text()
        from flex_provider.operators.batch import _read_sql

        rows = conn.execute(
            text(_read_sql(sql)),
            {"window_start": "2026-11-18T00:00:00Z", "window_end": "2026-11-19T00:00:00Z"},
        ).all()
        assert 95 <= len(rows) <= 110
    engine.dispose()


def test_generate_twice_appends_distinct_ids(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    generate(url, rows=10, days=1, end_date=date(2026, 11, 20))
    generate(url, rows=10, days=1, end_date=date(2026, 11, 20))
    engine = create_engine(url)
    with engine.connect() as conn:
        n, distinct = conn.execute(text("SELECT COUNT(*), COUNT(DISTINCT order_id) FROM orders")).one()
    assert n == distinct == 30


def test_ddl_renders_for_both_dialects() -> None:
    assert "TIMESTAMP WITH TIME ZONE" in ddl("postgresql")
    assert "CREATE TABLE flex_recovery_summary" in ddl("sqlite")
