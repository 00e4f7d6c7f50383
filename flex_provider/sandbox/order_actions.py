"""Changing a placed order: refund (full, or partial within 60 %), cancel, external cancel, capture."""

from __future__ import annotations

import sqlite3
import uuid
from decimal import Decimal
from typing import Any

from flex_provider.sandbox import currencies
from flex_provider.sandbox.expiry import ExpiryMixin
from flex_provider.sandbox.idempotent import IDEMPOTENCY_WINDOW_S, IdempotencyMixin
from flex_provider.sandbox.order_store import (
    CANCELLABLE,
    CANCELLED,
    CAPTURE_REQUIRED,
    COMPLETED,
    RETURNED,
    STATUS_NAMES,
    envelope,
)
from flex_provider.sandbox.problems import problem
from flex_provider.sandbox.schemas import CancelRequest, CaptureRequest, RefundRequest, parse

REFUND_PARTIAL_CAP = Decimal("0.60")


class OrderActionsMixin(IdempotencyMixin, ExpiryMixin):
    """Refunds in minor units by the currency's exponent; cancels and captures of open orders."""

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
            return 200, envelope("FAILED", success=False, responseCode=code, responseMessage=message,
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
        return 200, envelope("SUCCESS", responseCode="00", responseMessage="Refund approved",
                              transactionId=transaction_id,
                              refundedAmount=float(currencies.to_major(refunded + minor, currency)),
                              orderStatus=STATUS_NAMES[new_status])

    def cancel(self, mid: str, order_id: str, body: Any) -> tuple[int, dict[str, Any]]:
        """``POST /orders/{id}/cancel``: Draft/Processing/Capturerequired -> Cancelled, answers ``{}``."""
        req = self._cancel_request(body)
        if not isinstance(req, CancelRequest):
            return req
        with self._lock:
            if self._order_row(self._conn, mid, order_id) is None:
                return 404, problem(404, detail=f"Order {order_id} not found.")
        return self._cancel(mid, order_id.lower(), req, body)

    def external_cancel(self, mid: str, external_order_id: str, body: Any) -> tuple[int, dict[str, Any]]:
        """``POST /orders/{externalOrderId}/external-cancel``: cancel the latest order with that merchant id."""
        req = self._cancel_request(body)
        if not isinstance(req, CancelRequest):
            return req
        with self._lock:
            row = self._conn.execute(
                "SELECT id FROM orders WHERE mid=? AND external_order_id=? ORDER BY seq DESC",
                (mid, external_order_id),
            ).fetchone()
        if row is None:
            return 404, problem(404, detail=f"No order with external order id {external_order_id}.")
        return self._cancel(mid, row["id"], req, body)

    def _cancel_request(self, body: Any) -> CancelRequest | tuple[int, dict[str, Any]]:
        """Settle due orders, then read a cancel body: the request, or the 400 answer to give."""
        self.settle_due()
        req, errors = parse(CancelRequest, body if body is not None else {})
        if errors:
            return 400, problem(400, errors)
        assert isinstance(req, CancelRequest)
        return req

    def _cancel(self, mid: str, order_id: str, req: CancelRequest, body: Any) -> tuple[int, dict[str, Any]]:
        def run(conn: sqlite3.Connection) -> tuple[int, dict[str, Any]]:
            row = self._order_row(conn, mid, order_id)
            assert row is not None
            status = int(row["status"])
            if status == CANCELLED:
                return 200, {}
            if status not in CANCELLABLE:
                return 200, envelope(
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
                return 200, envelope("FAILED", success=False, captureStatus="FAILED", orderId=row["id"],
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
            return 200, envelope("SUCCESS", captureStatus="SUCCESS", orderId=row["id"])

        return self._idempotent(mid, "capture", str(req.idempotency_key), body, run)
