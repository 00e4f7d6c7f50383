"""Durable store of received Flex webhooks (SQLAlchemy Core; PostgreSQL and SQLite).

Tables (created on first use by the receiver; the event trigger only reads):

* ``flex_webhook_events``: one row per distinct event, unique on ``dedupe_key`` = sha256 of
  (Event, OrderId, TimeStamp). Redeliveries (``IsResent``) and duplicates add nothing.
* ``flex_webhook_nonces``: nonces of accepted deliveries, for replay protection inside the date window.
* ``flex_webhook_order_state``: per OrderId the final state, moved only forward (see :data:`PRECEDENCE_DOC`).

One delivery is one transaction: nonce, event row and order state commit together or not at all, and the
receiver answers 2xx only after the commit.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    create_engine,
    event,
    func,
    or_,
    select,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.types import TypeDecorator

from flex_provider.engines import url_from_connection as _sql_url
from flex_provider.models.webhooks import STATUS_RANK, FlexWebhookEvent
from flex_provider.sql_types import ID as _ID
from flex_provider.utc import to_utc, utc_now

log = logging.getLogger(__name__)

PRECEDENCE_DOC = """\
Order state precedence: each state-bearing event maps to a status (order.completed -> APPROVED,
order.expired -> EXPIRED, order.cancelled -> CANCELLED, order.refunded -> REFUNDED,
payment.chargeback.received -> CHARGEBACK) with a rank: REFUNDED/CHARGEBACK = 2 > APPROVED/EXPIRED/
CANCELLED = 1 > no state = 0. The stored state is the maximum of (rank, event TimeStamp, status name)
over every event seen for the order, so arrival order never matters: a lower-ranked event never
replaces a higher-ranked one, and within a rank an older event never overwrites a newer one."""


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in Python; naive UTC on SQLite (sortable text), timestamptz on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        value = to_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        return to_utc(value)


metadata = MetaData()

events_table = Table(
    "flex_webhook_events",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("dedupe_key", String(64), nullable=False),
    Column("event", String(128), nullable=False),
    Column("order_id", String(256)),
    Column("external_order_id", String(256)),
    Column("confirmation_id", String(256)),
    Column("event_ts", UTCDateTime, nullable=False),
    Column("status", String(32)),
    Column("amount", BigInteger),
    Column("currency", String(8)),
    Column("is_test_mode", Boolean, nullable=False, default=False),
    Column("is_resent", Boolean, nullable=False, default=False),
    Column("payload", Text, nullable=False),
    Column("nonce", String(32)),
    Column("received_at", UTCDateTime, nullable=False),
    Index("uq_flex_webhook_events_dedupe_key", "dedupe_key", unique=True),
    Index("ix_flex_webhook_events_order_id", "order_id"),
)

nonces_table = Table(
    "flex_webhook_nonces",
    metadata,
    Column("nonce", String(32), primary_key=True),
    Column("seen_at", UTCDateTime, nullable=False),
    Index("ix_flex_webhook_nonces_seen_at", "seen_at"),
)

order_state_table = Table(
    "flex_webhook_order_state",
    metadata,
    Column("order_id", String(256), primary_key=True),
    Column("status", String(32), nullable=False),
    Column("status_rank", Integer, nullable=False),
    Column("event", String(128), nullable=False),
    Column("event_ts", UTCDateTime, nullable=False),
    Column("external_order_id", String(256)),
    Column("confirmation_id", String(256)),
    Column("amount", BigInteger),
    Column("currency", String(8)),
    Column("event_row_id", _ID),
    Column("updated_at", UTCDateTime, nullable=False),
)


class NonceReplayError(Exception):
    """The nonce was already used by an accepted delivery inside the window."""


@dataclass(frozen=True)
class IngestResult:
    """Outcome of :meth:`WebhookStore.ingest`."""

    stored: bool
    duplicate: bool
    event_id: int | None = None


def url_from_connection(conn: Any) -> URL | str:
    """SQLAlchemy URL of an Airflow connection (:func:`flex_provider.engines.url_from_connection`, else its URI)."""
    return _sql_url(conn) or conn.get_uri()


def get_airflow_connection(conn_id: str) -> Any:
    """Fetch an Airflow connection from a server process (api-server) or a task/triggerer (Task SDK)."""
    import sys

    if hasattr(sys.modules.get("airflow.sdk.execution_time.task_runner"), "SUPERVISOR_COMMS"):
        from airflow.sdk import BaseHook

        return BaseHook.get_connection(conn_id)
    from airflow.models.connection import Connection

    return Connection.get_connection_from_secrets(conn_id)


def make_engine(url: URL | str, **engine_kwargs: Any) -> Engine:
    """Create an engine tuned for the receiver: WAL + busy timeout on SQLite, short connect timeout on PG."""
    url = make_url(url) if isinstance(url, str) else url
    kwargs: dict[str, Any] = dict(engine_kwargs)
    if url.get_backend_name() == "sqlite":
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            if url.database and url.database != ":memory:":
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    if url.get_backend_name() == "postgresql" and url.get_driver_name() in ("psycopg2", "psycopg"):
        kwargs.setdefault("connect_args", {"connect_timeout": 5})
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)  # the receiver's threadpool runs many short transactions at once
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


class WebhookStore:
    """Read/write access to the webhook tables on one engine (PostgreSQL or SQLite)."""

    def __init__(self, engine: Engine, *, create: bool = True) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        if self.dialect not in ("postgresql", "sqlite"):
            raise ValueError(f"flex webhook store supports postgresql and sqlite, not {self.dialect!r}")
        # SQLite has one writer at a time: serialise our own writers instead of spinning on "locked".
        self._write_lock = threading.Lock() if self.dialect == "sqlite" else None
        self._created = False
        self._stmts: dict[str, Any] | None = None
        if create:
            self.create_tables()

    @classmethod
    def from_url(cls, url: URL | str, *, create: bool = True) -> WebhookStore:
        return cls(make_engine(url), create=create)

    @classmethod
    def from_conn_id(cls, conn_id: str, *, create: bool = True) -> WebhookStore:
        return cls(make_engine(url_from_connection(get_airflow_connection(conn_id))), create=create)

    def create_tables(self) -> None:
        """Create the three tables if missing (idempotent)."""
        if not self._created:
            with self._locked():
                metadata.create_all(self.engine, checkfirst=True)
            self._created = True

    def dispose(self) -> None:
        self.engine.dispose()

    def _locked(self) -> Any:
        return self._write_lock if self._write_lock is not None else nullcontext()

    def _insert(self, table: Table) -> Any:
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        return insert(table)

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        with self._locked(), self.engine.begin() as conn:
            yield conn

    # ------------------------------------------------------------------ writes
    def ingest(
        self,
        event_obj: FlexWebhookEvent,
        raw_body: bytes,
        *,
        nonce: str | None = None,
        received_at: datetime | None = None,
    ) -> IngestResult:
        """Store one verified delivery atomically: nonce, event row (deduped), order state.

        Raises :class:`NonceReplayError` (nothing written) when the nonce was already used, and any
        ``sqlalchemy.exc.DBAPIError`` when the database is unreachable.
        """
        received_at = received_at or utc_now()
        try:
            payload_text = raw_body.decode("utf-8")
        except UnicodeDecodeError:
            payload_text = raw_body.decode("utf-8", errors="replace")
        status = event_obj.status
        stmts = self._statements()
        with self._tx() as conn:
            if nonce is not None:
                res = conn.execute(stmts["nonce"], {"nonce": nonce, "seen_at": received_at})
                if res.rowcount == 0:
                    raise NonceReplayError(nonce)
            row = {
                "dedupe_key": event_obj.dedupe_key,
                "event": event_obj.event,
                "order_id": event_obj.order_id,
                "external_order_id": event_obj.external_order_id,
                "confirmation_id": event_obj.confirmation_id,
                "event_ts": event_obj.timestamp,
                "status": status,
                "amount": event_obj.amount,
                "currency": event_obj.currency,
                "is_test_mode": event_obj.is_test_mode,
                "is_resent": event_obj.is_resent,
                "payload": payload_text,
                "nonce": nonce,
                "received_at": received_at,
            }
            event_id = conn.execute(stmts["event"], row).scalar_one_or_none()
            if event_id is None:
                return IngestResult(stored=False, duplicate=True)
            if status is not None and event_obj.order_id:
                conn.execute(
                    stmts["state"],
                    {
                        "order_id": event_obj.order_id,
                        "status": status,
                        "status_rank": STATUS_RANK.get(status, 0),
                        "event": event_obj.event,
                        "event_ts": event_obj.timestamp,
                        "external_order_id": event_obj.external_order_id,
                        "confirmation_id": event_obj.confirmation_id,
                        "amount": event_obj.amount,
                        "currency": event_obj.currency,
                        "event_row_id": event_id,
                        "updated_at": received_at,
                    },
                )
        return IngestResult(stored=True, duplicate=False, event_id=event_id)

    def _statements(self) -> dict[str, Any]:
        """The three upsert statements, built once (values bound per call) to keep ingest cheap."""
        if self._stmts is not None:
            return self._stmts
        nonce = self._insert(nonces_table).on_conflict_do_nothing(index_elements=[nonces_table.c.nonce])
        event_stmt = (
            self._insert(events_table)
            .on_conflict_do_nothing(index_elements=[events_table.c.dedupe_key])
            .returning(events_table.c.id)
        )
        t = order_state_table
        ins = self._insert(t)
        x = ins.excluded
        newer = or_(
            x.status_rank > t.c.status_rank,
            and_(x.status_rank == t.c.status_rank, x.event_ts > t.c.event_ts),
            and_(x.status_rank == t.c.status_rank, x.event_ts == t.c.event_ts, x.status > t.c.status),
        )
        state = ins.on_conflict_do_update(
            index_elements=[t.c.order_id],
            set_={
                "status": x.status,
                "status_rank": x.status_rank,
                "event": x.event,
                "event_ts": x.event_ts,
                "external_order_id": func.coalesce(x.external_order_id, t.c.external_order_id),
                "confirmation_id": func.coalesce(x.confirmation_id, t.c.confirmation_id),
                "amount": func.coalesce(x.amount, t.c.amount),
                "currency": func.coalesce(x.currency, t.c.currency),
                "event_row_id": x.event_row_id,
                "updated_at": x.updated_at,
            },
            where=newer,
        )
        self._stmts = {"nonce": nonce, "event": event_stmt, "state": state}
        return self._stmts

    def prune_nonces(self, older_than: datetime) -> int:
        """Forget nonces seen before ``older_than`` (outside any possible replay window)."""
        with self._tx() as conn:
            res = conn.execute(nonces_table.delete().where(nonces_table.c.seen_at < older_than))
            return res.rowcount or 0

    # ------------------------------------------------------------------ reads
    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(select(1))

    def max_event_id(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.coalesce(func.max(events_table.c.id), 0))).scalar_one())

    def count_events(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(events_table)).scalar_one())

    def events_after(
        self, after_id: int = 0, *, limit: int = 1000, events: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """Event rows with ``id > after_id`` in id order (payload included)."""
        stmt = (
            select(events_table).where(events_table.c.id > after_id).order_by(events_table.c.id).limit(limit)
        )
        if events:
            stmt = stmt.where(events_table.c.event.in_(list(events)))
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def order_states(self) -> dict[str, dict[str, Any]]:
        """Every order's final state, keyed by OrderId."""
        with self.engine.connect() as conn:
            return {r.order_id: dict(r._mapping) for r in conn.execute(select(order_state_table))}

    def order_state(self, order_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(order_state_table).where(order_state_table.c.order_id == order_id)
            ).first()
            return dict(row._mapping) if row else None

    def nonce_retention(self, tolerance_seconds: float) -> timedelta:
        """How long a nonce must be remembered: its date may be up to +tolerance, then valid for tolerance."""
        return timedelta(seconds=2 * tolerance_seconds + 60)
