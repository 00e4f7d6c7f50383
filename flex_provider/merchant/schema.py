"""
The sample merchant schema, for PostgreSQL and SQLite (docs/merchant-db.md).

Four tables: ``subscriptions``, ``card_tokens`` (the Flex token vaulted at checkout, never a card
number), ``orders`` (one row per payment attempt, with the decline details and the ``flex_*`` columns
the integration adds), and ``flex_recovery_summary`` (one row per business date and currency).

Timestamps are ``timestamptz`` on PostgreSQL and ISO-8601 text ``YYYY-MM-DDTHH:MM:SSZ`` on SQLite (so
text comparison is time order); dates are ``date`` / ``YYYY-MM-DD`` text.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import TYPE_CHECKING

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
)

from flex_provider.sql_types import ID
from flex_provider.utc import utc_text

if TYPE_CHECKING:
    from sqlalchemy import Engine


class OrderStatus(str, Enum):
    """Merchant-side payment statuses; the Flex flow only ever moves them forward."""

    DECLINED = "DECLINED"  # declined by the PSP; candidate for Flex
    PENDING_FLEX = "PENDING_FLEX"  # handed to Flex, own retries stopped
    PAID = "PAID"  # approved (by the PSP, or rescued by Flex)
    FAILED = "FAILED"  # Flex could not rescue it before the expiry
    CANCELLED = "CANCELLED"  # pending order cancelled at Flex
    REFUNDED = "REFUNDED"  # fully refunded


#: Rank of each status: an update may only raise it ("never backwards").
STATUS_RANK: dict[str, int] = {
    "DECLINED": 0,
    "PENDING_FLEX": 1,
    "PAID": 2,
    "FAILED": 2,
    "CANCELLED": 2,
    "REFUNDED": 3,
}

#: Flex outcome -> merchant status.
FLEX_TO_MERCHANT: dict[str, str] = {
    "APPROVED": "PAID",
    "EXPIRED": "FAILED",
    "CANCELLED": "CANCELLED",
    "REFUNDED": "REFUNDED",
}

_ID = ID
_TS = DateTime(timezone=True).with_variant(String(20), "sqlite")
_DATE = Date().with_variant(String(10), "sqlite")

metadata = MetaData()

card_tokens = Table(
    "card_tokens",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("customer_id", String(64), nullable=False),
    Column("flex_token", String(128), nullable=False, comment="token from Flex /tokenize, never a PAN"),
    Column("card_bin", String(8)),
    Column("card_last4", String(4)),
    Column("exp_month", SmallInteger),
    Column("exp_year", SmallInteger),
    Column("card_brand", String(16)),
    Column("card_type", String(16)),
    Column("holder_name", String(128)),
    Column("sense_key", String(64), comment="SenseJS session key captured at checkout"),
    Column("created_at", _TS, nullable=False),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("subscription_id", String(64), primary_key=True),
    Column("customer_id", String(64), nullable=False),
    Column("email", String(255)),
    Column("first_name", String(64)),
    Column("last_name", String(64)),
    Column("phone", String(32)),
    Column("address_line1", String(128)),
    Column("city", String(64)),
    Column("state", String(32)),
    Column("zip_code", String(16)),
    Column("country_code", String(2)),
    Column("country", String(64)),
    Column("plan_code", String(32)),
    Column("billing_interval", String(16), nullable=False, default="monthly"),
    Column("price_cents", BigInteger),
    Column("currency", String(3)),
    Column("card_token_id", _ID),
    Column("status", String(16), nullable=False, default="active"),
    Column("started_at", _TS, nullable=False),
)

orders = Table(
    "orders",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    # The merchant's order id (Flex: orderId / ExternalOrderId). Not unique on purpose: billing systems
    # do write the same attempt twice, and the batch writer must reject the duplicate.
    Column("order_id", String(64), nullable=False),
    Column("subscription_id", String(64)),
    Column("customer_id", String(64)),
    Column("card_token_id", _ID),
    Column("payment_number", Integer),
    Column("is_mit", Boolean, nullable=False, default=True),
    Column("is_recurring", Boolean, nullable=False, default=True),
    Column("amount_cents", BigInteger),
    Column("currency", String(8)),
    Column("description", String(255)),
    Column("customer_ip", String(45)),
    Column("psp_name", String(32)),
    Column("psp_transaction_id", String(64)),
    Column("attempted_at", _TS, nullable=False),
    Column("response_status", String(16)),
    Column("decline_code", String(16)),
    Column("decline_message", String(128)),
    Column("avs_result", String(4)),
    Column("cvv_result", String(4)),
    Column("status", String(16), nullable=False),
    # Added by the Flex integration: written by the sample DAGs only.
    Column("flex_business_date", _DATE),
    Column("flex_batch_file", String(128)),
    Column("flex_sent_at", _TS),
    Column("flex_expiry_at", _TS),
    Column("flex_order_id", String(64), comment="Flex orderSessionKey"),
    Column("flex_status", String(16)),
    Column("flex_confirmation_id", String(64)),
    Column("flex_settled_at", _TS),
    Column("flex_reject_reason", String(255)),
    Column("refunded_amount_cents", BigInteger, nullable=False, default=0, server_default="0"),
    Column("updated_at", _TS),
    Index("ix_orders_status_attempted_at", "status", "attempted_at"),
    Index("ix_orders_order_id", "order_id"),
    Index("ix_orders_flex_order_id", "flex_order_id"),
)

flex_recovery_summary = Table(
    "flex_recovery_summary",
    metadata,
    Column("business_date", _DATE, nullable=False),
    Column("currency", String(8), nullable=False),
    Column("declines_sent", BigInteger, nullable=False),
    Column("rejected", BigInteger, nullable=False),
    Column("pending", BigInteger, nullable=False),
    Column("rescued_count", BigInteger, nullable=False),
    Column("rescued_amount_cents", BigInteger, nullable=False),
    Column("expired_count", BigInteger, nullable=False),
    Column("cancelled_count", BigInteger, nullable=False),
    Column("refunded_count", BigInteger, nullable=False),
    Column("recovery_rate", Numeric(7, 4), comment="rescued / (rescued + expired); NULL while none settled"),
    Column("updated_at", _TS, nullable=False),
    PrimaryKeyConstraint("business_date", "currency", name="pk_flex_recovery_summary"),
)

TABLES = ("card_tokens", "subscriptions", "orders", "flex_recovery_summary")


def create_schema(engine: Engine, *, drop: bool = False) -> None:
    """Create the four tables (and indexes) if missing; ``drop`` first drops them."""
    if drop:
        metadata.drop_all(engine, checkfirst=True)
    metadata.create_all(engine, checkfirst=True)


def ddl(dialect: str = "postgresql") -> str:
    """Return the CREATE statements for ``postgresql`` or ``sqlite`` (for docs and DBAs)."""
    from sqlalchemy.dialects import postgresql, sqlite
    from sqlalchemy.schema import CreateIndex, CreateTable

    d = postgresql.dialect() if dialect.startswith("postgres") else sqlite.dialect()
    parts: list[str] = []
    for table in metadata.sorted_tables:
        parts.append(str(CreateTable(table).compile(dialect=d)).strip() + ";")
        parts.extend(str(CreateIndex(ix).compile(dialect=d)).strip() + ";" for ix in table.indexes)
    return "\n\n".join(parts) + "\n"


def ts(value: datetime) -> str:
    """Format an instant the way the schema stores it on SQLite (and PostgreSQL parses): ``...Z``."""
    return utc_text(value)


def ds(value: date) -> str:
    """Format a date as ``YYYY-MM-DD``."""
    return value.isoformat()


if __name__ == "__main__":  # pragma: no cover - prints the DDL for docs
    import sys

    print(ddl(sys.argv[1] if len(sys.argv) > 1 else "postgresql"))
