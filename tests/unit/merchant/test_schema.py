"""``flex_provider.merchant.schema``: the demo merchant's four tables on SQLite, and its status order."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import create_engine, inspect, text

from flex_provider.merchant.schema import FLEX_TO_MERCHANT, STATUS_RANK, TABLES, create_schema, ds, ts


def test_create_schema_makes_the_four_tables_and_is_idempotent(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    create_schema(engine)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO card_tokens (customer_id, flex_token, created_at) "
                          "VALUES ('c-1', 'tok-1', '2026-11-24T02:00:00Z')"))
    create_schema(engine)  # again: nothing dropped
    assert set(TABLES) <= set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM card_tokens")).scalar_one() == 1
    create_schema(engine, drop=True)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM card_tokens")).scalar_one() == 0
    engine.dispose()


def test_flex_outcomes_only_move_a_declined_order_forward() -> None:
    assert FLEX_TO_MERCHANT == {"APPROVED": "PAID", "EXPIRED": "FAILED", "CANCELLED": "CANCELLED",
                                "REFUNDED": "REFUNDED"}
    assert all(STATUS_RANK[s] > STATUS_RANK["PENDING_FLEX"] > STATUS_RANK["DECLINED"] for s in FLEX_TO_MERCHANT.values())
    assert STATUS_RANK["REFUNDED"] > STATUS_RANK["PAID"]


def test_timestamps_are_utc_text_that_sorts_in_time_order() -> None:
    paris = timezone(timedelta(hours=1))
    assert ts(datetime(2026, 11, 24, 3, 0, tzinfo=paris)) == "2026-11-24T02:00:00Z"
    assert ts(datetime(2026, 11, 24, 2, 0)) == "2026-11-24T02:00:00Z"  # naive is UTC
    assert ds(date(2026, 1, 2)) == "2026-01-02"
