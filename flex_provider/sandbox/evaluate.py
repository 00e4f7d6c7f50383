"""``POST /evaluate`` and ``POST /transmit`` (also one batch row each): new orders and transaction copies.

Outcomes are deterministic for a seed: see :meth:`EvaluateMixin.outcome_for` and ``docs/sandbox.md``.
"""

from __future__ import annotations

import hashlib
import sqlite3
import uuid
from typing import Any

from flex_provider.sandbox.credentials import SANDBOX_NS
from flex_provider.sandbox.idempotent import IdempotencyMixin, without_sequence_number
from flex_provider.sandbox.order_store import (
    CANCELLED,
    CAPTURE_REQUIRED,
    COMPLETED,
    DRAFT,
    PROCESSING,
    envelope,
    to_timestamp,
)
from flex_provider.sandbox.problems import problem
from flex_provider.sandbox.schemas import EvaluateRequest, TransmitRequest, parse
from flex_provider.sandbox.vault import VaultMixin


class EvaluateMixin(VaultMixin, IdempotencyMixin):
    """Place orders (MIT ones settle later on the sandbox clock) and keep transmitted copies."""

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
            mid, "evaluate", str(req.idempotency_key), without_sequence_number(body),
            lambda conn: self._evaluate(conn, mid, req, source),
        )

    def _evaluate(self, conn: sqlite3.Connection, mid: str, req: EvaluateRequest,
                  source: str) -> tuple[int, dict[str, Any]]:
        now = self.clock.timestamp()
        expiry = to_timestamp(req.expiry_date_utc) if req.expiry_date_utc is not None else None
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
        return envelope(name, orderSessionKey=order_id, senseKey=None, orderId=order_id)

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
            return 200, envelope(transmitId=transmit_id)

        return self._idempotent(mid, "transmit", key, without_sequence_number(body), run)
