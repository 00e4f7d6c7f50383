"""Column types the provider's tables share (ledger, webhook store, the demo merchant DB)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer

#: Surrogate keys: BIGINT on PostgreSQL, INTEGER on SQLite (only ``INTEGER PRIMARY KEY`` is SQLite's rowid,
#: so only that autoincrements there).
ID = BigInteger().with_variant(Integer, "sqlite")
