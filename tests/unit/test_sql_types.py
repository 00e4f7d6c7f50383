"""``flex_provider.sql_types``: one surrogate-key type for every table: BIGSERIAL on PostgreSQL, rowid on SQLite."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateTable

from flex_provider.sql_types import ID


def test_one_id_type_for_every_table() -> None:
    from flex_provider.ledger import schema as ledger_schema
    from flex_provider.merchant import schema as merchant_schema
    from flex_provider.webhooks import store as webhook_store

    assert ledger_schema._ID is ID
    assert webhook_store._ID is ID
    assert merchant_schema._ID is ID
    table = webhook_store.events_table
    assert "id BIGSERIAL NOT NULL" in str(CreateTable(table).compile(dialect=postgresql.dialect()))
    assert "id INTEGER NOT NULL" in str(CreateTable(table).compile(dialect=sqlite.dialect()))
