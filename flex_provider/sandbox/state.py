"""Sandbox state: merchants' tokens, cards, orders and idempotency keys in SQLite, plus the order state machine.

One :class:`SandboxState` per sandbox process. The REST routes, the SFTP batch processor and the webhook
sender all go through it, so a batch row and an API call behave the same. Every public method returns
``(http_status, json_body)`` the way the API answers, commits before it returns, and only then tells the
listeners about order events (so a listener never sees an event that a crash could roll back).

Outcomes are deterministic for a seed: see :meth:`SandboxState.outcome_for` and ``docs/sandbox.md``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import math
import secrets
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from flex_provider.sandbox import currencies
from flex_provider.sandbox.clock import SandboxClock
from flex_provider.sandbox.schemas import (
    CancelRequest,
    CaptureRequest,
    EvaluateRequest,
    PaymentMethod,
    RefundRequest,
    TokenizeRequest,
    TokenRequest,
    TransmitRequest,
    parse,
    problem,
)

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

#: Whitelisted test cards (flex-api.md 5.5) and what they do in the sandbox.
TEST_CARDS: dict[str, str] = {
    "4000002760003184": "approve",
    "4000300011112220": "decline",
    "4111111111111111": "challenge",
    "51002600235851": "approve",  # Mastercard (14 digits)
}

REFUND_PARTIAL_CAP = Decimal("0.60")
IDEMPOTENCY_WINDOW_S = 24 * 3600.0  # for refund and cancel; evaluate/transmit/capture keys never lapse
SANDBOX_NS = uuid.UUID("6f1e3c1a-6a3b-5d0e-9a57-0c6b1f4d2e11")
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


@dataclass(frozen=True)
class MerchantCredentials:
    """The sandbox's one merchant account; every value derives from the seed."""

    mid: str
    site_id: str
    app_key: str
    app_secret: str
    tokenization_key: str
    webhook_subscriber_key: str

    @classmethod
    def from_seed(cls, seed: int) -> MerchantCredentials:
        """Deterministic credentials: GUIDs by uuid5, secrets by SHA-256 of the seed."""

        def digest(label: str) -> bytes:
            return hashlib.sha256(f"flex-sandbox:{seed}:{label}".encode()).digest()

        return cls(
            mid=str(uuid.uuid5(SANDBOX_NS, f"mid:{seed}")),
            site_id=str(uuid.uuid5(SANDBOX_NS, f"site:{seed}")),
            app_key="sandbox-app-key",
            app_secret=digest("app-secret").hex()[:40],
            tokenization_key=digest("tokenization-key").hex()[:32],
            webhook_subscriber_key=base64.b64encode(digest("webhook-subscriber-key")).decode(),
        )


def _envelope(status: str = "SUCCESS", *, success: bool = True, **fields: Any) -> dict[str, Any]:
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


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def _ts(value: datetime) -> float:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _canonical_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def _without_sequence_number(body: Any) -> Any:
    """Batch rows may move to another position when re-sent: ``sequenceNumber`` is not part of the key."""
    if isinstance(body, dict):
        return {k: v for k, v in body.items() if not (isinstance(k, str) and k.lower() == "sequencenumber")}
    return body


def _looks_like_pan(value: str | None) -> bool:
    return bool(value) and value.isdigit() and 12 <= len(value) <= 19  # type: ignore[union-attr]


def card_brand(pan_or_bin: str) -> str:
    """Card brand from the first digits."""
    if pan_or_bin.startswith("4"):
        return "visa"
    if pan_or_bin[:2] in ("51", "52", "53", "54", "55") or pan_or_bin[:1] == "2":
        return "master"
    if pan_or_bin[:2] in ("34", "37"):
        return "american_express"
    if pan_or_bin.startswith("6"):
        return "discover"
    return "unknown"


class SandboxState:
    """Everything the sandbox remembers, in ``DIR/sandbox.sqlite3``."""

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

    # ------------------------------------------------------------------ plumbing
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

    def _idempotent(
        self,
        mid: str,
        op: str,
        key: str | None,
        fingerprint: Any,
        fn: Callable[[sqlite3.Connection], tuple[int, dict[str, Any]]],
        *,
        window: float | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """Run ``fn`` once per (mid, op, key): same body replays the stored answer, another body gets 409."""
        with self._txn() as conn:
            if key is None:
                return fn(conn)
            scope = f"{mid}|{op}"
            digest = _canonical_hash(fingerprint)
            now = self.clock.timestamp()
            row = conn.execute(
                "SELECT body_hash, status, response, created_at FROM idempotency WHERE scope=? AND key=?",
                (scope, key),
            ).fetchone()
            if row is not None and (window is None or now - row["created_at"] <= window):
                if row["body_hash"] != digest:
                    return 409, problem(
                        409, detail="The idempotency key was already used with a different request body."
                    )
                return int(row["status"]), json.loads(row["response"])
            status, body = fn(conn)
            if status < 400:
                conn.execute(
                    "INSERT OR REPLACE INTO idempotency (scope, key, body_hash, status, response, created_at) "
                    "VALUES (?,?,?,?,?,?)",
                    (scope, key, digest, status, json.dumps(body), now),
                )
            return status, body

    def _hash_unit(self, *parts: Any) -> tuple[float, float]:
        digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
        u1 = int.from_bytes(digest[:8], "big") / 2**64
        u2 = int.from_bytes(digest[8:16], "big") / 2**64
        return u1, u2

    def outcome_for(self, mid: str, order_id: str) -> tuple[bool, float]:
        """Seeded outcome of an order without a test-card behaviour: (approved?, fraction of the window).

        ``approved`` has probability ``approve_rate``; ``fraction`` lies in [0.05, 0.9] and places the
        completion at ``placed + fraction * (expiry - placed)``.
        """
        u1, u2 = self._hash_unit(self.seed, mid, order_id)
        return u1 < self.approve_rate, 0.05 + 0.85 * u2

    def _confirmation_id(self, order_id: str) -> str:
        return hashlib.sha256(f"confirm:{self.seed}:{order_id}".encode()).hexdigest()[:8].upper()

    def _check_mid(self, mid: str, body_mid: str | None) -> dict[str, list[str]]:
        if body_mid and body_mid.strip().lower() != mid.lower():
            return {"Mid": ["The Mid does not match the authenticated merchant."]}
        return {}

    # ------------------------------------------------------------------ auth
    def issue_token(self, body: Any) -> tuple[int, dict[str, Any]]:
        """``POST /oauth2/token``: AppKey/AppSecret -> access token (TTL ``token_ttl`` on the sandbox clock)."""
        req, errors = parse(TokenRequest, body)
        if errors:
            return 400, problem(400, errors)
        assert isinstance(req, TokenRequest)
        m = self.merchant
        ok = hmac.compare_digest(req.app_key.encode(), m.app_key.encode()) & hmac.compare_digest(
            req.app_secret.encode(), m.app_secret.encode()
        )
        if not ok:
            return 400, problem(400, {"AppKey": ["Invalid AppKey or AppSecret."]})
        now = self.clock.timestamp()
        exp = now + self.token_ttl
        client_id = str(uuid.uuid5(SANDBOX_NS, f"client:{self.seed}:{m.app_key}"))
        claims = {
            "sub": client_id,
            "unique_name": client_id,
            "jti": str(uuid.uuid4()),
            "iat": str(int(now * 1000)),
            "aud": ["payments", "orders", "merchants", "eligibility-sftp", "eligibility", "contact"],
            "custom:mid": m.mid,
            "nbf": int(now),
            "exp": int(exp),
            "iss": "Api-Client-Service",
        }
        signing_input = f"{_b64url(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = _b64url(hmac.new(self._jwt_key, signing_input.encode(), hashlib.sha256).digest())
        token = f"{signing_input}.{signature}"
        with self._txn() as conn:
            conn.execute(
                "INSERT INTO tokens (token_hash, mid, issued_at, expires_at) VALUES (?,?,?,?)",
                (hashlib.sha256(token.encode()).hexdigest(), m.mid, now, exp),
            )
        return 200, _envelope(
            accessToken=token,
            refreshToken=secrets.token_urlsafe(32),
            expires=int(exp * 1000),
            id=client_id,
            session=None,
            daysToEnforceMFA=None,
            skipAvailable=None,
        )

    def mid_for_token(self, bearer: str) -> str | None:
        """The mid of a live access token (``"Bearer x"`` or ``"x"``); None when unknown or expired."""
        if not bearer:
            return None
        token = bearer.strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        with self._lock:
            row = self._conn.execute(
                "SELECT mid, expires_at FROM tokens WHERE token_hash=?",
                (hashlib.sha256(token.encode()).hexdigest(),),
            ).fetchone()
        if row is None or row["expires_at"] <= self.clock.timestamp():
            return None
        return str(row["mid"])

    # ------------------------------------------------------------------ tokenize
    def tokenize(self, mid: str, body: Any) -> tuple[int, dict[str, Any]]:
        """``POST /tokenize``: vault a card, keep only BIN, last 4 and its test behaviour."""
        req, errors = parse(TokenizeRequest, body)
        if errors:
            return 400, problem(400, errors)
        assert isinstance(req, TokenizeRequest)
        cc = req.payment_method.credit_card
        pan = cc.number
        if pan not in TEST_CARDS:  # ours: only whitelisted test cards, never real card data (flex-api.md 5.4)
            return 400, problem(400, {"PaymentMethod.CreditCard.Number": [
                "Only whitelisted test cards can be tokenized in the sandbox."]})
        bin6, last4 = pan[:6], pan[-4:]
        brand = card_brand(pan)
        behaviour = TEST_CARDS[pan]
        fingerprint = hmac.new(self._jwt_key, pan.encode(), hashlib.sha256).hexdigest()[:40]
        token = str(uuid.uuid4())
        now = self.clock.timestamp()
        with self._txn() as conn:
            conn.execute(
                "INSERT INTO cards (token, mid, bin, last4, brand, behaviour, created_at) VALUES (?,?,?,?,?,?,?)",
                (token, mid, bin6, last4, brand, behaviour, now),
            )
        masked = "X" * (len(pan) - 4) + last4
        payment_method = {
            "token": token,
            "created_at": _iso(now),
            "updated_at": _iso(now),
            "email": req.payment_method.email,
            "storage_state": "cached",
            "test": True,
            "payment_method_type": "credit_card",
            "first_name": cc.first_name,
            "last_name": cc.last_name,
            "full_name": f"{cc.first_name} {cc.last_name}",
            "month": int(cc.month),
            "year": int(cc.year),
            "card_type": brand,
            "first_six_digits": bin6,
            "last_four_digits": last4,
            "number": masked,
            "verification_value": "XXX" if cc.verification_value else "",
            "fingerprint": fingerprint,
            "eligible_for_card_updater": True,
            "errors": [],
        }
        transaction = {
            "token": str(uuid.uuid4()),
            "created_at": _iso(now),
            "succeeded": True,
            "state": "succeeded",
            "transaction_type": "AddPaymentMethod",
            "message_key": "messages.transaction_succeeded",
            "message": "Succeeded!",
            "on_test_gateway": True,
            "retained": False,
            "payment_method": payment_method,
        }
        card_bin_info = {"bin": bin6, "cardBrand": brand.upper(), "cardType": "CREDIT", "cardCountry": "US"}
        return 200, _envelope(transaction=transaction, cardBinInfo=card_bin_info)

    def vault_card(self, token: str) -> dict[str, Any] | None:
        """The vault entry of a card token (no PAN is ever stored: BIN, last 4, brand, behaviour), or None."""
        with self._lock:
            row = self._conn.execute(
                "SELECT token, mid, bin, last4, brand, behaviour, created_at FROM cards WHERE token=?", (token,)
            ).fetchone()
        if row is None:
            return None
        return {**dict(row), "created_at": _iso(row["created_at"])}

    def _card(self, mid: str, pm: PaymentMethod) -> dict[str, Any]:
        """Card facts for an order: token (never a PAN), bin, last4 and the behaviour that applies."""
        number = (pm.card_number or "").strip()
        info: dict[str, Any] = {"token": None, "bin": pm.card_bin_number, "last4": pm.card_last4_digits,
                                "behaviour": "seeded"}
        if pm.token is False and _looks_like_pan(number.replace(" ", "")):
            pan = number.replace(" ", "")
            info.update(bin=pan[:6], last4=pan[-4:], behaviour=TEST_CARDS.get(pan, "seeded"))
            return info
        if number and not _looks_like_pan(number):
            info["token"] = number
            with self._lock:
                row = self._conn.execute(
                    "SELECT bin, last4, behaviour FROM cards WHERE token=?", (number,)
                ).fetchone()
            if row is not None:
                info.update(bin=row["bin"], last4=row["last4"], behaviour=row["behaviour"])
        return info

    # ------------------------------------------------------------------ evaluate
    def evaluate(self, mid: str, body: dict, *, source: str = "api") -> tuple[int, dict]:
        """``POST /evaluate`` (and one evaluate batch row with ``source="batch"``)."""
        req, errors = parse(EvaluateRequest, body)
        errors = dict(errors or {})
        if isinstance(req, EvaluateRequest):
            errors.update(self._check_mid(mid, req.mid))
            if not req.is_declined:
                errors["IsDeclined"] = ["Only declined transactions can be evaluated (isDeclined must be true)."]
            if req.is_mit and req.expiry_date_utc is None:
                errors["ExpiryDateUtc"] = ["The ExpiryDateUtc field is required."]
            if not (req.payment_method.card_number or "").strip():
                errors["PaymentMethod.CardNumber"] = ["The CardNumber field is required."]
            if source == "api" and not 10 < req.transaction.amount < 20000:
                errors.setdefault("Transaction.Amount", []).append(
                    "Sandbox test amounts must be greater than 10 and less than 20000 (cents)."
                )
        if errors:
            return 400, problem(400, errors)
        assert isinstance(req, EvaluateRequest)
        return self._idempotent(
            mid, "evaluate", str(req.idempotency_key), _without_sequence_number(body),
            lambda conn: self._evaluate(conn, mid, req, source),
        )

    def _evaluate(self, conn: sqlite3.Connection, mid: str, req: EvaluateRequest,
                  source: str) -> tuple[int, dict[str, Any]]:
        now = self.clock.timestamp()
        expiry = _ts(req.expiry_date_utc) if req.expiry_date_utc is not None else None
        if req.is_mit and expiry is not None and expiry <= now:
            return 400, problem(400, {"ExpiryDateUtc": ["The field ExpiryDateUtc must be later than the current time."]})
        open_row = conn.execute(
            "SELECT * FROM orders WHERE mid=? AND external_order_id=? AND status IN (0,4,5) ORDER BY seq DESC",
            (mid, req.order_id),
        ).fetchone()
        if open_row is not None and not self.strict_idempotency:  # same orderId: answer with the open order
            return 200, self._evaluate_response(open_row["id"], open_row["status"])
        seq = conn.execute(
            "SELECT COUNT(*) FROM orders WHERE mid=? AND external_order_id=?", (mid, req.order_id)
        ).fetchone()[0]
        order_id = str(uuid.uuid5(SANDBOX_NS, f"order:{self.seed}:{mid}:{req.order_id}:{seq}"))
        card = self._card(mid, req.payment_method)
        seeded_ok, fraction = self.outcome_for(mid, req.order_id)
        behaviour = card["behaviour"]
        approve = behaviour == "approve" or (behaviour in ("seeded", "challenge") and seeded_ok)
        due_at: float | None = None
        confirmation_id: str | None = None
        final_at: float | None = None
        if req.is_mit:
            assert expiry is not None
            status = PROCESSING
            planned = "approve" if approve else "expire"
            due_at = now + fraction * (expiry - now) if approve else expiry
        else:
            approve = behaviour == "approve" or (behaviour == "seeded" and seeded_ok)
            if behaviour == "challenge":
                status, planned = DRAFT, "challenge"
            elif approve and req.transaction_type == "AUTHORIZATION":
                status, planned = CAPTURE_REQUIRED, "capture"
            elif approve:
                status, planned, final_at = COMPLETED, "approve", now
                confirmation_id = self._confirmation_id(order_id)
            else:
                status, planned, final_at = CANCELLED, "decline", now
        billing = req.billing_information
        payer = req.payer
        row = {
            "id": order_id, "mid": mid, "external_order_id": req.order_id, "seq": seq, "source": source,
            "is_mit": int(req.is_mit), "transaction_type": req.transaction_type or "PURCHASE", "status": status,
            "amount": req.transaction.amount, "currency": req.transaction.currency.upper(), "refunded": 0,
            "placed_at": now, "expiry_at": expiry, "due_at": due_at, "planned": planned, "final_at": final_at,
            "confirmation_id": confirmation_id, "idempotency_key": str(req.idempotency_key),
            "reference_number": req.transaction.id, "correlation_id": req.correlation_id,
            "site_id": req.site_id or self.merchant.site_id, "card_token": card["token"],
            "card_bin": card["bin"], "card_last4": card["last4"], "card_behaviour": behaviour,
            "first_name": billing.first_name if billing else None,
            "last_name": billing.last_name if billing else None,
            "email": payer.email if payer else None, "phone": payer.phone if payer else None,
            "billing_json": billing.model_dump_json(by_alias=True) if billing else None,
            "shipping_json": req.shipping_information.model_dump_json(by_alias=True)
            if req.shipping_information else None,
            "updated_at": now,
        }
        cols = ",".join(row)
        conn.execute(f"INSERT INTO orders ({cols}) VALUES ({','.join('?' * len(row))})", tuple(row.values()))
        if status == COMPLETED:
            self._emit(conn, row, "order.completed", "APPROVED", now)
        return 200, self._evaluate_response(order_id, status, declined=status == CANCELLED)

    @staticmethod
    def _evaluate_response(order_id: str, status: int, *, declined: bool = False) -> dict[str, Any]:
        name = {
            PROCESSING: "SUBMITTED", DRAFT: "CHALLENGE", CAPTURE_REQUIRED: "CAPTUREREQUIRED",
            COMPLETED: "APPROVED",
        }.get(status, "DECLINED" if declined else "SUBMITTED")
        return _envelope(name, orderSessionKey=order_id, senseKey=None, orderId=order_id)

    # ------------------------------------------------------------------ transmit
    def transmit(self, mid: str, body: dict, *, source: str = "api") -> tuple[int, dict]:
        """``POST /transmit`` (and one transmit batch row): keep a copy, answer a ``transmitId``."""
        req, errors = parse(TransmitRequest, body)
        errors = dict(errors or {})
        if isinstance(req, TransmitRequest):
            errors.update(self._check_mid(mid, req.mid))
        if errors:
            return 400, problem(400, errors)
        assert isinstance(req, TransmitRequest)
        key = str(req.idempotency_key) if req.idempotency_key else None

        def run(conn: sqlite3.Connection) -> tuple[int, dict[str, Any]]:
            name = f"transmit:{self.seed}:{mid}:{req.order_id}:{req.transaction.id}"
            if self.strict_idempotency:  # another key (or none) is another copy
                copies = conn.execute(
                    "SELECT COUNT(*) FROM transmits WHERE mid=? AND order_id=? AND transaction_id=?",
                    (mid, req.order_id, req.transaction.id),
                ).fetchone()[0]
                name = f"{name}:{copies}" if copies else name
            transmit_id = str(uuid.uuid5(SANDBOX_NS, name))
            conn.execute(
                "INSERT OR IGNORE INTO transmits (id, mid, order_id, transaction_id, source, amount, currency, "
                "created_at) VALUES (?,?,?,?,?,?,?,?)",
                (transmit_id, mid, req.order_id, req.transaction.id, source, req.transaction.amount,
                 req.transaction.currency.upper(), self.clock.timestamp()),
            )
            return 200, _envelope(transmitId=transmit_id)

        return self._idempotent(mid, "transmit", key, _without_sequence_number(body), run)

    # ------------------------------------------------------------------ orders
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
            "orderPlacedDate": _iso(row["placed_at"]),
            "expiryDate": _iso(row["expiry_at"]),
            "completedDate": _iso(row["final_at"]) if status in (COMPLETED, RETURNED) else None,
            "lastUpdatedDate": _iso(row["updated_at"]),
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

    def get_order(self, mid: str, order_id: str) -> tuple[int, dict[str, Any]]:
        """``GET /orders/{id}`` (settles due transitions first)."""
        self.settle_due()
        with self._lock:
            row = self._order_row(self._conn, mid, order_id)
        if row is None:
            return 404, problem(404, detail=f"Order {order_id} not found.")
        return 200, self.order_json(row)

    def list_orders(self, mid: str, params: Sequence[tuple[str, str]]) -> tuple[int, dict[str, Any]]:
        """``GET /orders``: filters ``status`` (repeatable or comma list), ``from``, ``to``, ``mid``,
        ``query``, ``orderBy`` (createdOn|amount), ``sort`` (asc|desc), ``pageSize`` (1-100, default 10),
        ``pageNumber`` (from 1)."""
        self.settle_due()
        errors: dict[str, list[str]] = {}
        by_key: dict[str, list[str]] = {}
        for k, v in params:
            by_key.setdefault(k.lower(), []).append(v)
        statuses: list[int] = []
        for raw in by_key.get("status", []):
            for part in raw.split(","):
                part = part.strip()
                if not part:
                    continue
                if part.lstrip("-").isdigit() and int(part) in STATUS_NAMES:
                    statuses.append(int(part))
                else:
                    errors.setdefault("Status", []).append(f"The value '{part}' is not valid for Status.")

        def dt(name: str) -> float | None:
            vals = by_key.get(name.lower())
            if not vals:
                return None
            try:
                return _ts(datetime.fromisoformat(vals[-1].replace("Z", "+00:00")))
            except ValueError:
                errors.setdefault(name[:1].upper() + name[1:], []).append(
                    f"The value '{vals[-1]}' is not valid for {name[:1].upper() + name[1:]}.")
                return None

        def integer(name: str, default: int, lo: int, hi: int) -> int:
            vals = by_key.get(name.lower())
            pascal = name[:1].upper() + name[1:]
            if not vals:
                return default
            if not vals[-1].lstrip("-").isdigit():
                errors.setdefault(pascal, []).append(f"The value '{vals[-1]}' is not valid for {pascal}.")
                return default
            value = int(vals[-1])
            if not lo <= value <= hi:
                errors.setdefault(pascal, []).append(f"The field {pascal} must be between {lo} and {hi}.")
            return value

        t_from, t_to = dt("from"), dt("to")
        page_size = integer("pageSize", 10, 1, 100)
        page_number = integer("pageNumber", 1, 1, 1_000_000)
        order_by = (by_key.get("orderby") or ["createdOn"])[-1]
        sort = (by_key.get("sort") or ["asc"])[-1].lower()
        if order_by.lower() not in ("createdon", "amount"):
            errors.setdefault("OrderBy", []).append(f"The value '{order_by}' is not valid for OrderBy.")
        if sort not in ("asc", "desc"):
            errors.setdefault("Sort", []).append(f"The value '{sort}' is not valid for Sort.")
        if errors:
            return 400, problem(400, errors)
        where, args = ["mid = ?"], [mid]
        for m in by_key.get("mid", []):
            where.append("lower(mid) = ?")
            args.append(m.lower())
        if statuses:
            where.append(f"status IN ({','.join('?' * len(statuses))})")
            args.extend(statuses)
        if t_from is not None:
            where.append("placed_at >= ?")
            args.append(t_from)
        if t_to is not None:
            where.append("placed_at <= ?")
            args.append(t_to)
        for q in by_key.get("query", []):
            where.append("(external_order_id LIKE ? OR id LIKE ? OR reference_number LIKE ?)")
            args.extend([f"%{q}%"] * 3)
        column = "amount" if order_by.lower() == "amount" else "placed_at"
        direction = "DESC" if sort == "desc" else "ASC"
        sql_where = " AND ".join(where)
        with self._lock:
            total = self._conn.execute(f"SELECT COUNT(*) FROM orders WHERE {sql_where}", args).fetchone()[0]
            rows = self._conn.execute(
                f"SELECT * FROM orders WHERE {sql_where} ORDER BY {column} {direction}, seq {direction}, id "
                f"{direction} LIMIT ? OFFSET ?",
                [*args, page_size, (page_number - 1) * page_size],
            ).fetchall()
        page_count = math.ceil(total / page_size) if total else 0
        first = (page_number - 1) * page_size + 1 if rows else 0
        return 200, {
            "items": [self.order_json(r) for r in rows],
            "pageNumber": page_number,
            "pageSize": page_size,
            "pageCount": page_count,
            "totalItemCount": total,
            "hasPreviousPage": page_number > 1,
            "hasNextPage": page_number < page_count,
            "isFirstPage": page_number == 1,
            "isLastPage": page_number >= page_count,
            "firstItemOnPage": first,
            "lastItemOnPage": first + len(rows) - 1 if rows else 0,
            "statuses": {str(k): v for k, v in STATUS_NAMES.items()},
        }

    # ------------------------------------------------------------------ refund / cancel / capture
    def refund(self, mid: str, order_id: str, body: Any) -> tuple[int, dict[str, Any]]:
        """``POST /orders/{id}/refund``: an amount in major units (dollars, yen, dinars); a full refund of the
        whole amount, or partial refunds whose running total stays within 60 % of the order amount."""
        self.settle_due()
        req, errors = parse(RefundRequest, body if body is not None else {})
        errors = dict(errors or {})
        if isinstance(req, RefundRequest):
            errors.update(self._check_mid(mid, req.mid))
        if errors:
            return 400, problem(400, errors)
        assert isinstance(req, RefundRequest)
        with self._lock:
            order = self._order_row(self._conn, mid, order_id)
        if order is None:
            return 404, problem(404, detail=f"Order {order_id} not found.")
        currency = order["currency"]
        minor = currencies.to_minor(req.amount_to_refund, currency)
        if minor is None:  # ours: Flex documents only dollars with cents
            places = currencies.exponent(currency)
            message = f"The field AmountToRefund has more decimal places than {currency} has ({places})."
            return 400, problem(400, {"AmountToRefund": [message]})
        key = str(req.idempotency_key) if req.idempotency_key else None
        return self._idempotent(
            mid, "refund", key, {"order": order_id.lower(), "body": body},
            lambda conn: self._refund(conn, mid, order_id, minor), window=IDEMPOTENCY_WINDOW_S,
        )

    def _refund(self, conn: sqlite3.Connection, mid: str, order_id: str,
                minor: int) -> tuple[int, dict[str, Any]]:
        """Refund ``minor`` minor units of the order's currency (by its ISO 4217 exponent)."""
        row = self._order_row(conn, mid, order_id)
        assert row is not None
        amount, refunded, status = int(row["amount"]), int(row["refunded"]), int(row["status"])
        currency = row["currency"]

        def major(value: int) -> str:
            return str(currencies.to_major(value, currency))

        def failed(code: str, message: str) -> tuple[int, dict[str, Any]]:
            return 200, _envelope("FAILED", success=False, responseCode=code, responseMessage=message,
                                  transactionId=None)

        if status not in (COMPLETED, RETURNED):
            return failed("2002", f"Order cannot be refunded in status {STATUS_NAMES.get(status)}.")
        remaining = amount - refunded
        if minor > remaining:
            return failed("2001", f"Amount to refund ({major(minor)}) is greater than maximum refund amount "
                                  f"in ({major(remaining)}))")
        full = refunded == 0 and minor == amount
        cap = int((Decimal(amount) * REFUND_PARTIAL_CAP).to_integral_value(rounding="ROUND_FLOOR"))
        if not full and refunded + minor > cap:
            return failed("2003", f"Partial refunds are limited to 60% of the order amount: at most "
                                  f"{major(max(cap - refunded, 0))} more can be refunded on this order.")
        now = self.clock.timestamp()
        new_status = RETURNED if refunded + minor >= amount else status
        conn.execute(
            "UPDATE orders SET refunded=?, status=?, updated_at=?, final_at=COALESCE(final_at, ?) WHERE id=?",
            (refunded + minor, new_status, now, now, row["id"]),
        )
        self._emit(conn, row, "order.refunded", "REFUNDED", now, amount=minor)
        transaction_id = str(uuid.uuid4())
        return 200, _envelope("SUCCESS", responseCode="00", responseMessage="Refund approved",
                              transactionId=transaction_id,
                              refundedAmount=float(currencies.to_major(refunded + minor, currency)),
                              orderStatus=STATUS_NAMES[new_status])

    def cancel(self, mid: str, order_id: str, body: Any) -> tuple[int, dict[str, Any]]:
        """``POST /orders/{id}/cancel``: Draft/Processing/Capturerequired -> Cancelled, answers ``{}``."""
        self.settle_due()
        req, errors = parse(CancelRequest, body if body is not None else {})
        if errors:
            return 400, problem(400, errors)
        assert isinstance(req, CancelRequest)
        with self._lock:
            if self._order_row(self._conn, mid, order_id) is None:
                return 404, problem(404, detail=f"Order {order_id} not found.")
        return self._cancel(mid, order_id.lower(), req, body)

    def external_cancel(self, mid: str, external_order_id: str, body: Any) -> tuple[int, dict[str, Any]]:
        """``POST /orders/{externalOrderId}/external-cancel``: cancel the latest order with that merchant id."""
        self.settle_due()
        req, errors = parse(CancelRequest, body if body is not None else {})
        if errors:
            return 400, problem(400, errors)
        assert isinstance(req, CancelRequest)
        with self._lock:
            row = self._conn.execute(
                "SELECT id FROM orders WHERE mid=? AND external_order_id=? ORDER BY seq DESC",
                (mid, external_order_id),
            ).fetchone()
        if row is None:
            return 404, problem(404, detail=f"No order with external order id {external_order_id}.")
        return self._cancel(mid, row["id"], req, body)

    def _cancel(self, mid: str, order_id: str, req: CancelRequest, body: Any) -> tuple[int, dict[str, Any]]:
        def run(conn: sqlite3.Connection) -> tuple[int, dict[str, Any]]:
            row = self._order_row(conn, mid, order_id)
            assert row is not None
            status = int(row["status"])
            if status == CANCELLED:
                return 200, {}
            if status not in CANCELLABLE:
                return 200, _envelope(
                    "FAILED", success=False, responseCode="3001",
                    responseMessage=f"Order cannot be cancelled in status {STATUS_NAMES.get(status)}.",
                )
            now = self.clock.timestamp()
            conn.execute("UPDATE orders SET status=?, final_at=?, updated_at=? WHERE id=?",
                         (CANCELLED, now, now, order_id))
            self._emit(conn, row, "order.cancelled", "CANCELLED", now)
            return 200, {}

        key = str(req.idempotency_key) if req.idempotency_key else None
        return self._idempotent(mid, "cancel", key, {"order": order_id, "body": body or {}}, run,
                                window=IDEMPOTENCY_WINDOW_S)

    def capture(self, mid: str, body: Any) -> tuple[int, dict[str, Any]]:
        """``POST /capture``: Capturerequired -> Completed (emits order.completed)."""
        self.settle_due()
        req, errors = parse(CaptureRequest, body)
        if errors:
            return 400, problem(400, errors)
        assert isinstance(req, CaptureRequest)

        def run(conn: sqlite3.Connection) -> tuple[int, dict[str, Any]]:
            row = self._order_row(conn, mid, str(req.order_id))
            if row is None:
                return 404, problem(404, detail=f"Order {req.order_id} not found.")

            def failed(message: str) -> tuple[int, dict[str, Any]]:
                return 200, _envelope("FAILED", success=False, captureStatus="FAILED", orderId=row["id"],
                                      responseCode="4001", responseMessage=message)

            if int(row["status"]) != CAPTURE_REQUIRED:
                return failed(f"Order cannot be captured in status {STATUS_NAMES.get(int(row['status']))}.")
            if req.currency.upper() != row["currency"] or req.amount > int(row["amount"]):
                return failed("Capture amount or currency does not match the order.")
            now = self.clock.timestamp()
            confirmation_id = self._confirmation_id(row["id"])
            conn.execute(
                "UPDATE orders SET status=?, amount=?, confirmation_id=?, final_at=?, updated_at=? WHERE id=?",
                (COMPLETED, req.amount, confirmation_id, now, now, row["id"]),
            )
            updated = dict(row)
            updated.update(amount=req.amount, confirmation_id=confirmation_id)
            self._emit(conn, updated, "order.completed", "APPROVED", now)
            return 200, _envelope("SUCCESS", captureStatus="SUCCESS", orderId=row["id"])

        return self._idempotent(mid, "capture", str(req.idempotency_key), body, run)

    # ------------------------------------------------------------------ time
    def settle_due(self) -> list[OrderEvent]:
        """Apply every MIT transition due at ``clock.now()`` (Completed or Expired); notify listeners."""
        now = self.clock.timestamp()
        events: list[OrderEvent] = []
        with self._txn() as conn:
            rows = conn.execute(
                "SELECT * FROM orders WHERE status=? AND due_at IS NOT NULL AND due_at <= ? ORDER BY due_at, id",
                (PROCESSING, now),
            ).fetchall()
            for row in rows:
                at = float(row["due_at"])
                if row["planned"] == "approve":
                    confirmation_id = self._confirmation_id(row["id"])
                    conn.execute(
                        "UPDATE orders SET status=?, confirmation_id=?, final_at=?, updated_at=? WHERE id=?",
                        (COMPLETED, confirmation_id, at, now, row["id"]),
                    )
                    updated = dict(row)
                    updated["confirmation_id"] = confirmation_id
                    events.append(self._emit(conn, updated, "order.completed", "APPROVED", at))
                else:
                    conn.execute("UPDATE orders SET status=?, final_at=?, updated_at=? WHERE id=?",
                                 (EXPIRED, at, now, row["id"]))
                    events.append(self._emit(conn, row, "order.expired", "EXPIRED", at))
            conn.execute("DELETE FROM tokens WHERE expires_at < ?", (now - 86400,))
        return events

    # ------------------------------------------------------------------ admin views
    def raw_orders(self) -> list[dict[str, Any]]:
        """All orders with every column (times as ISO strings) for ``GET /_sandbox/orders``."""
        with self._lock:
            rows = self._conn.execute("SELECT * FROM orders ORDER BY placed_at, seq, id").fetchall()
        out = []
        for r in rows:
            d = dict(r)
            for col in ("placed_at", "expiry_at", "due_at", "final_at", "updated_at"):
                d[col] = _iso(d[col])
            d["status_name"] = STATUS_NAMES.get(d["status"])
            out.append(d)
        return out

    def raw_events(self, after: int = 0) -> list[dict[str, Any]]:
        """Every order event ever emitted (the outbox log), oldest first."""
        with self._lock:
            rows = self._conn.execute("SELECT * FROM events WHERE seq > ? ORDER BY seq", (after,)).fetchall()
        return [{**dict(r), "timestamp": _iso(r["timestamp"])} for r in rows]

    @staticmethod
    def event_dict(event: OrderEvent) -> dict[str, Any]:
        """JSON-friendly form of an event."""
        d = asdict(event)
        d["timestamp"] = _iso(event.timestamp.timestamp())
        return d
