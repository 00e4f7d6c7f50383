"""
The ledger's tables and the small SQL helpers every ledger module shares.

Tables (SQLAlchemy Core, PostgreSQL and SQLite, created on first use):

* ``flex_batch_files``: the file registry (one row per batch file we wrote: state, digests, Flex's ack).
* ``flex_batch_rows``: the rows as shipped (file, sequence number, idempotency key, expiry); the registry
  the writer asks "already shipped?". Its ``status`` column is historical: an order's state lives in
  ``flex_order_state`` (read through :meth:`FlexLedger.rows_for_orders`, which overlays it).
* ``flex_outbound_files``: ack/result files already read (or quarantined).
* ``flex_order_events``: every fact about an order, once (unique on ``(mid, kind, event_key)``).
* ``flex_order_state``: the fold of an order's events (``flex_provider.ledger.state``).
* ``flex_ledger_marks``: named counters: the append lock row, projection and import watermarks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import TypeVar

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from flex_provider.models.limits import CURRENCY_LENGTH, FLEX_ID_MAX, ORDER_ID_MAX
from flex_provider.sql_types import ID as _ID
from flex_provider.utc import to_utc, utc_now

BATCH_SIZE = 5000
IN_CHUNK = 900  # bound parameters per IN (...) list; SQLite's old limit is 999
#: Advisory-lock key that serializes the ledger's table creation on PostgreSQL ("flexddl" in ASCII).
DDL_LOCK_KEY = 0x666C6578_64646C
FILE_STATES = ("written", "uploaded", "acknowledged")
SHIPPED_STATES = ("uploaded", "acknowledged")

metadata = MetaData()

batch_files = Table(
    "flex_batch_files",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("business_date", Date, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("mid", String(64), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("rows_sha256", String(64), nullable=False),
    Column("uploaded_sha256", String(64)),
    Column("remote_size", Integer),
    Column("state", String(16), nullable=False),
    Column("ack_status", String(16)),
    Column("ack_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("uploaded_at", DateTime(timezone=True)),
    Column("acknowledged_at", DateTime(timezone=True)),
)

batch_rows = Table(
    "flex_batch_rows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("mid", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("order_id", String(ORDER_ID_MAX), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("file_name", String(255), nullable=False, index=True),
    Column("sequence_number", Integer, nullable=False),
    Column("idempotency_key", String(64)),
    Column("expiry_date_utc", DateTime(timezone=True)),
    Column("order_session_key", String(FLEX_ID_MAX), index=True),
    Column("status", String(16), nullable=False),
    Column("error", Text),
    Column("confirmation_id", String(FLEX_ID_MAX)),
    Column("amount", Integer),
    Column("currency", String(CURRENCY_LENGTH)),
    Column("result_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("mid", "kind", "order_id", name="uq_flex_batch_rows_order"),
)

outbound_files = Table(
    "flex_outbound_files",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("sha256", String(64)),
    Column("status", String(16), nullable=False),
    Column("error", Text),
    Column("processed_at", DateTime(timezone=True), nullable=False),
)

#: Columns an event carries (the staging table has the same, minus ``id``/``recorded_at``).
EVENT_COLUMNS = (
    "mid",
    "order_id",
    "kind",
    "event_key",
    "status",
    "order_session_key",
    "confirmation_id",
    "amount_minor",
    "currency",
    "flex_time",
    "detail",
    "business_date",
    "file_name",
    "expiry_at",
    "sort_key",
)

order_events = Table(
    "flex_order_events",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("mid", String(64), nullable=False),
    Column("order_id", String(ORDER_ID_MAX), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("event_key", String(255), nullable=False),
    Column("status", String(16)),
    Column("order_session_key", String(FLEX_ID_MAX)),
    Column("confirmation_id", String(FLEX_ID_MAX)),
    Column("amount_minor", BigInteger),
    Column("currency", String(CURRENCY_LENGTH)),
    Column("flex_time", DateTime(timezone=True)),
    Column("detail", Text),
    Column("business_date", Date),
    Column("file_name", String(255)),
    Column("expiry_at", DateTime(timezone=True)),
    Column("sort_key", String(400)),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("mid", "kind", "event_key", name="uq_flex_order_events_key"),
    Index("ix_flex_order_events_order", "mid", "order_id"),
)

order_state = Table(
    "flex_order_state",
    metadata,
    Column("mid", String(64), primary_key=True),
    Column("order_id", String(ORDER_ID_MAX), primary_key=True),
    Column("status", String(16)),
    Column("best_key", String(400)),
    Column("business_date", Date),
    Column("batch_file", String(255)),
    Column("sent_at", DateTime(timezone=True)),
    Column("expiry_at", DateTime(timezone=True)),
    Column("local_reason", Text),
    Column("local_date", Date),
    Column("flex_error", Text),
    Column("order_session_key", String(FLEX_ID_MAX)),
    Column("confirmation_id", String(FLEX_ID_MAX)),
    Column("approved_minor", BigInteger),
    Column("currency", String(CURRENCY_LENGTH)),
    Column("refunded_minor", BigInteger, nullable=False, default=0),
    Column("settled_at", DateTime(timezone=True)),
    # No index on seq: the projection scans for seq > watermark, and updates of an indexed seq could
    # never be HOT (the state table is rewritten by every fold).
    Column("seq", _ID, nullable=False),
    postgresql_with={"fillfactor": 70},
)

ledger_marks = Table(
    "flex_ledger_marks",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("value", _ID, nullable=False, default=0),
    Column("at", DateTime(timezone=True)),
)

T = TypeVar("T")

#: The provider's one "aware UTC" and "now" (flex_provider.utc), under the names the ledger modules use.
utc = to_utc
now = utc_now


def batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of at most ``size``."""
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


_FILE_NUMBER = re.compile(r"_(\d{4,})\.[A-Za-z0-9]+$")


def file_number(name: str) -> int | None:
    """The ``NNNN`` of a batch file name (``..._<YYYYMMDD>_<NNNN>.json``), None when it has none."""
    m = _FILE_NUMBER.search(name)
    return int(m.group(1)) if m else None


class LedgerConflictError(ValueError):
    """A file name is recorded with other content than the file now being recorded."""
