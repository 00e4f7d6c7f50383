"""The sandbox's order store: the SQLite database, its transactions, and the order events they emit.

One store per sandbox process. Every change runs in :meth:`OrderStore._txn`, which commits before it
tells the listeners about the order events emitted inside (so a listener never sees an event that a
crash could roll back). The feature mixins (auth, vault, evaluate, order actions, expiry, queries)
build on this class; :class:`flex_provider.sandbox.state.SandboxState` puts them together.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from flex_provider.sandbox.clock import SandboxClock
from flex_provider.sandbox.credentials import MerchantCredentials

log = logging.getLogger("flex_provider.sandbox")

STATUS_NAMES: dict[int, str] = {
    0: "Draft",
    1: "Onhold",
    2: "Cancelled",
    3: "Problem",
    4: "Processing",
    5: "Capturerequired",
    6: "Returned",
    7: "Completed",
    8: "Expired",  # ours: Flex's documented list stops at 7
}
DRAFT, CANCELLED, PROCESSING, CAPTURE_REQUIRED, RETURNED, COMPLETED, EXPIRED = 0, 2, 4, 5, 6, 7, 8
CANCELLABLE = (DRAFT, PROCESSING, CAPTURE_REQUIRED)

CURRENCY_SYMBOLS = {"USD": "$", "CAD": "$", "EUR": "€", "GBP": "£"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    token_hash TEXT PRIMARY KEY, mid TEXT NOT NULL, issued_at REAL NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS cards (
    token TEXT PRIMARY KEY, mid TEXT NOT NULL, bin TEXT NOT NULL, last4 TEXT NOT NULL,
    brand TEXT NOT NULL, behaviour TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY, mid TEXT NOT NULL, external_order_id TEXT NOT NULL, seq INTEGER NOT NULL,
    source TEXT NOT NULL, is_mit INTEGER NOT NULL, transaction_type TEXT, status INTEGER NOT NULL,
    amount INTEGER NOT NULL, currency TEXT NOT NULL, refunded INTEGER NOT NULL DEFAULT 0,
    placed_at REAL NOT NULL, expiry_at REAL, due_at REAL, planned TEXT NOT NULL, final_at REAL,
    confirmation_id TEXT, idempotency_key TEXT, reference_number TEXT, correlation_id TEXT, site_id TEXT,
    card_token TEXT, card_bin TEXT, card_last4 TEXT, card_behaviour TEXT,
    first_name TEXT, last_name TEXT, email TEXT, phone TEXT, billing_json TEXT, shipping_json TEXT,
    updated_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS orders_due ON orders (status, due_at);
CREATE INDEX IF NOT EXISTS orders_ext ON orders (mid, external_order_id);
CREATE TABLE IF NOT EXISTS idempotency (
    scope TEXT NOT NULL, key TEXT NOT NULL, body_hash TEXT NOT NULL, status INTEGER NOT NULL,
    response TEXT NOT NULL, created_at REAL NOT NULL, PRIMARY KEY (scope, key));
CREATE TABLE IF NOT EXISTS transmits (
    id TEXT PRIMARY KEY, mid TEXT NOT NULL, order_id TEXT NOT NULL, transaction_id TEXT NOT NULL,
    source TEXT NOT NULL, amount INTEGER NOT NULL, currency TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, event TEXT NOT NULL, order_id TEXT NOT NULL,
    external_order_id TEXT NOT NULL, mid TEXT NOT NULL, status TEXT NOT NULL, confirmation_id TEXT,
    amount INTEGER NOT NULL, currency TEXT NOT NULL, timestamp REAL NOT NULL);
"""


@dataclass
class OrderEvent:
    """An order reaching a state the merchant hears about (webhook, batch result file)."""

    event: str  # order.completed | order.expired | order.cancelled | order.refunded
    order_id: str  # Flex id (orderSessionKey)
    external_order_id: str  # merchant orderId
    mid: str
    status: str  # APPROVED | EXPIRED | CANCELLED | REFUNDED
    confirmation_id: str | None
    amount: int  # minor units of the currency (for order.refunded: the amount of this refund)
    currency: str
    timestamp: datetime  # sandbox clock


def envelope(status: str = "SUCCESS", *, success: bool = True, **fields: Any) -> dict[str, Any]:
    """Flex's answer envelope (success, result, status, errors ...) around an endpoint's own fields."""
    body: dict[str, Any] = dict(fields)
    body.update(
        success=success,
        result="Success" if success else "Failed",
        status=status,
        statusCode=None,
        errors=[],
        customProperties={},
    )
    return body


def iso(ts: float | None) -> str | None:
    """A stored epoch timestamp as ISO 8601 UTC with ``Z`` (None stays None)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def to_timestamp(value: datetime) -> float:
    """Epoch seconds of a datetime; a naive one is taken as UTC (Flex's ``...Utc`` fields)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


class OrderStore:
    """Everything the sandbox remembers, in ``DIR/sandbox.sqlite3``, and the plumbing to change it."""

    def __init__(
        self,
        data_dir: Path | str,
        *,
        seed: int = 0,
        clock_speed: float | None = None,
        token_ttl: float = 600.0,
        approve_rate: float = 0.35,
        strict_idempotency: bool = False,
    ) -> None:
        """Open (or create) the database in ``data_dir``; ``clock_speed`` None keeps the stored speed.

        ``strict_idempotency``: only idempotency keys dedupe (see :attr:`strict_idempotency`).
        """
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.db_path = self.data_dir / "sandbox.sqlite3"
        self.seed = seed
        self.token_ttl = float(token_ttl)
        self.approve_rate = float(approve_rate)
        #: False (default): an /evaluate for an ``orderId`` with an open order answers with that order, and
        #: a transmit of the same (orderId, transaction id) answers the same ``transmitId``, whatever the
        #: key (Flex's business identity; what Flex does there is undocumented, flex-api.md 5.2).
        #: True: only the idempotency key dedupes: a new key is a new order (or transmit copy), so a
        #: client whose keys are not stable across retries and reruns is caught.
        self.strict_idempotency = bool(strict_idempotency)
        self.merchant = MerchantCredentials.from_seed(seed)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.db_path, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        self._conn.commit()
        self.clock = SandboxClock(self._conn, speed=clock_speed, lock=self._lock)
        self._listeners: list[Callable[[OrderEvent], None]] = []
        self._pending: list[OrderEvent] = []
        self._in_txn = False
        self._jwt_key = hashlib.sha256(f"jwt:{seed}:{self.merchant.app_secret}".encode()).digest()

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._conn.close()

    def add_listener(self, fn: Callable[[OrderEvent], None]) -> None:
        """Call ``fn(event)`` for every order event, after the change is committed."""
        self._listeners.append(fn)

    @contextlib.contextmanager
    def _txn(self) -> Iterator[sqlite3.Connection]:
        """One SQLite transaction; events emitted inside go to listeners only after commit."""
        with self._lock:
            if self._in_txn:
                yield self._conn
                return
            self._in_txn = True
            try:
                yield self._conn
                self._conn.commit()
            except BaseException:
                self._conn.rollback()
                self._pending.clear()
                raise
            finally:
                self._in_txn = False
            events, self._pending = self._pending, []
        for event in events:
            for fn in list(self._listeners):
                try:
                    fn(event)
                except Exception:
                    log.exception("sandbox order-event listener failed for %s %s", event.event, event.order_id)

    def _emit(self, conn: sqlite3.Connection, row: sqlite3.Row | dict[str, Any], event: str, status: str,
              at: float, *, amount: int | None = None) -> OrderEvent:
        ev = OrderEvent(
            event=event,
            order_id=row["id"],
            external_order_id=row["external_order_id"],
            mid=row["mid"],
            status=status,
            confirmation_id=row["confirmation_id"],
            amount=int(row["amount"] if amount is None else amount),
            currency=row["currency"],
            timestamp=datetime.fromtimestamp(at, tz=timezone.utc),
        )
        conn.execute(
            "INSERT INTO events (event, order_id, external_order_id, mid, status, confirmation_id, amount, "
            "currency, timestamp) VALUES (?,?,?,?,?,?,?,?,?)",
            (ev.event, ev.order_id, ev.external_order_id, ev.mid, ev.status, ev.confirmation_id, ev.amount,
             ev.currency, at),
        )
        self._pending.append(ev)
        return ev

    def _confirmation_id(self, order_id: str) -> str:
        return hashlib.sha256(f"confirm:{self.seed}:{order_id}".encode()).hexdigest()[:8].upper()

    def _check_mid(self, mid: str, body_mid: str | None) -> dict[str, list[str]]:
        if body_mid and body_mid.strip().lower() != mid.lower():
            return {"Mid": ["The Mid does not match the authenticated merchant."]}
        return {}


    def _order_row(self, conn: sqlite3.Connection, mid: str, order_id: str) -> sqlite3.Row | None:
        return conn.execute("SELECT * FROM orders WHERE id=? AND mid=?", (order_id.lower(), mid)).fetchone()

    @staticmethod
    def order_json(row: sqlite3.Row | Mapping[str, Any]) -> dict[str, Any]:
        """The API view of an order (GET /orders/{id}, GET /orders items)."""
        billing = json.loads(row["billing_json"]) if row["billing_json"] else None
        shipping = json.loads(row["shipping_json"]) if row["shipping_json"] else None
        status = int(row["status"])
        return {
            "id": row["id"],
            "externalOrderId": row["external_order_id"],
            "mid": row["mid"],
            "siteId": row["site_id"],
            "correlationId": row["correlation_id"],
            "referenceNumber": row["reference_number"],
            "status": status,
            "statusName": STATUS_NAMES.get(status, "Unknown"),
            "orderPlacedDate": iso(row["placed_at"]),
            "expiryDate": iso(row["expiry_at"]),
            "completedDate": iso(row["final_at"]) if status in (COMPLETED, RETURNED) else None,
            "lastUpdatedDate": iso(row["updated_at"]),
            "confirmationId": row["confirmation_id"],
            "isMIT": bool(row["is_mit"]),
            "transactionType": row["transaction_type"],
            "amount": int(row["amount"]),
            "refundedAmount": int(row["refunded"]),
            "currencyCode": row["currency"],
            "currencySymbol": CURRENCY_SYMBOLS.get(row["currency"], ""),
            "firstName": row["first_name"],
            "lastName": row["last_name"],
            "email": row["email"],
            "phone": row["phone"],
            "secondaryEmail": None,
            "billingAddress": billing,
            "shippingAddress": shipping,
            "paymentMethod": {"cardBinNumber": row["card_bin"], "cardLast4Digits": row["card_last4"]},
            "source": row["source"],
        }
