"""
Refunds and cancels of Flex orders, recorded in the event ledger before and after the call.

Event keys: a request is ``<order id>:<request id>`` (a request id is the merchant's, unique per order);
an answer is Flex's transaction id, or the request's key when Flex gives none.

A refund is a request (its id: a Param the user may give, default the DAG run) and Flex's answer. The
idempotency key comes from the request id, never from amounts, so:

* a retry of the same request (a task retry, a cleared run, a lost response) sends the same key and the
  same body: the amount of a request is recorded before the call and read back on every retry, so a
  "refund the rest" request does not change its amount once the first attempt went through;
* two requests for equal partial refunds are two refunds, each booked once (the ledger adds a refund
  once per Flex answer, see :mod:`flex_provider.ledger.state`).

Amounts are integer minor units by the currency's ISO 4217 exponent (:mod:`flex_provider.money`);
Flex's refund endpoint takes major units, converted exactly with :func:`~flex_provider.money.to_major`.
The merchant DB is not written here: the projection does that from the ledger's state.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from flex_provider.exceptions import FlexBusinessError
from flex_provider.idempotency import idempotency_key
from flex_provider.money import MoneyError, to_major, to_minor

if TYPE_CHECKING:
    from flex_provider.hooks.api import FlexApiHook
    from flex_provider.ledger import FlexLedger

log = logging.getLogger(__name__)

#: Flex's order status code (GET /orders/{id}) -> the ledger's status, for orders the ledger does not hold.
FLEX_STATUS = {0: "SUBMITTED", 4: "SUBMITTED", 5: "SUBMITTED", 7: "APPROVED", 6: "REFUNDED", 2: "CANCELLED"}
#: Ledger statuses an order may be refunded from (approved, or partly refunded already).
REFUNDABLE = ("APPROVED",)
#: Ledger statuses an order may be cancelled from (Flex still works on it).
CANCELLABLE = ("SHIPPED", "SUBMITTED", "PENDING")


class OrderActionError(ValueError):
    """A refund or cancel that cannot be made (unknown order, wrong state, bad amount); never retried."""


@dataclass(frozen=True)
class OrderRef:
    """What a refund or cancel needs to know about one order."""

    mid: str
    order_id: str
    order_session_key: str
    status: str | None
    amount_minor: int | None
    currency: str | None
    refunded_minor: int


def _event(**fields: Any) -> Any:
    from flex_provider.ledger.events import OrderEvent

    return OrderEvent(**fields)


class OrderActions:
    """
    Refund or cancel orders through Flex's API, with the request and the answer kept as ledger events.

    :param api: an open :class:`~flex_provider.hooks.api.FlexApiHook`.
    :param ledger: the event ledger holding the orders' state.
    :param mid: the merchant id (default: the ``flex`` connection's ``mid`` extra).
    """

    def __init__(self, api: FlexApiHook, ledger: FlexLedger, mid: str | None = None) -> None:
        self.api = api
        self.ledger = ledger
        self.mid = mid or api.settings.mid or ""
        if not self.mid:
            raise OrderActionError("No mid given and the flex connection has no 'mid' extra")

    # -- lookup -----------------------------------------------------------------------------------

    def order(self, order_id: str, order_session_key: str | None = None) -> OrderRef:
        """
        The ledger's view of an order; Flex's own read (GET /orders/{id}) fills what the ledger lacks
        (an order evaluated outside this provider: status, amount, currency, refunded amount).
        """
        state = self.ledger.order_state(self.mid, order_id) or {}
        key = order_session_key or state.get("order_session_key")
        if not key:
            raise OrderActionError(f"Order {order_id!r} is unknown to the ledger or Flex never accepted it")
        status, amount, currency = state.get("status"), state.get("amount_minor"), state.get("currency")
        refunded = state.get("refunded_minor")
        if status is None or amount is None or not currency:
            flex = self.api.get_order(key)
            if status is None and flex.status is not None:
                status = FLEX_STATUS.get(int(flex.status))
            currency = currency or flex.currency_code
            amount = amount if amount is not None else flex.amount
            refunded = refunded if refunded is not None else flex.refunded_amount
        return OrderRef(
            mid=self.mid,
            order_id=order_id,
            order_session_key=key,
            status=status,
            amount_minor=None if amount is None else int(amount),
            currency=currency,
            refunded_minor=int(refunded or 0),
        )

    # -- refund -----------------------------------------------------------------------------------

    def refund(
        self,
        order_id: str,
        *,
        request_id: str,
        amount: str | Decimal | int | None = None,
        reason: str | None = None,
        order_session_key: str | None = None,
    ) -> dict[str, Any]:
        """
        Refund ``amount`` (major units as a decimal string; None = what is left) of an approved order.

        Returns the outcome (``status``, ``amount_minor``, ``transaction_id``, ``replayed``); raises
        :class:`OrderActionError` for a refund that cannot be made and :class:`FlexBusinessError` when
        Flex refuses it (the refusal is recorded first).
        """
        if not request_id:
            raise OrderActionError("A refund needs a request id")
        ref = self.order(order_id, order_session_key)
        stored = self._request(order_id, "refund_requested", request_id)
        if stored is not None:
            amount_minor = int(stored["amount_minor"])
            log.info("Refund request %s was recorded before: sending it again unchanged", request_id)
        else:
            amount_minor = self._refund_amount(ref, amount)
            self._record_request("refund", ref, request_id, amount_minor)
        assert ref.currency is not None  # _refund_amount or the stored request checked it
        key = self._key("refund", ref, request_id)
        try:
            answer = self.api.refund(
                ref.order_session_key,
                to_major(amount_minor, ref.currency),
                message=reason or None,
                idempotency_key=key,
            )
        except FlexBusinessError as exc:
            self._answer("refund_answered", ref, request_id, None, "FAILED", amount_minor, str(exc))
            raise
        self._answer("refund_answered", ref, request_id, answer.transaction_id, "SUCCESS", amount_minor, None)
        log.info(
            "Refunded %d minor units (%s) of Flex order %s (request %s)",
            amount_minor,
            ref.currency,
            ref.order_session_key,
            request_id,
        )
        return {
            "order_id": order_id,
            "request_id": request_id,
            "status": "SUCCESS",
            "amount_minor": amount_minor,
            "currency": ref.currency,
            "transaction_id": answer.transaction_id,
            "replayed": stored is not None,
        }

    def _refund_amount(self, ref: OrderRef, amount: str | Decimal | int | None) -> int:
        if ref.status not in REFUNDABLE:
            raise OrderActionError(f"Cannot refund order {ref.order_id!r} in status {ref.status}")
        if not ref.currency or ref.amount_minor is None:
            raise OrderActionError(f"Order {ref.order_id!r} has no known amount and currency")
        left = ref.amount_minor - ref.refunded_minor
        if amount in (None, ""):
            minor = left
        else:
            try:
                minor = to_minor(amount, ref.currency)  # type: ignore[arg-type]
            except MoneyError as exc:
                raise OrderActionError(f"Refund amount: {exc}") from None
        if minor <= 0:
            raise OrderActionError(f"Nothing to refund on order {ref.order_id!r}")
        if minor > left:
            raise OrderActionError(
                f"Refund of order {ref.order_id!r} is above what is left to refund ({left} minor units)"
            )
        return minor

    # -- cancel -----------------------------------------------------------------------------------

    def cancel(
        self, order_id: str, *, request_id: str, order_session_key: str | None = None
    ) -> dict[str, Any]:
        """Cancel an order Flex still works on (POST /orders/{id}/cancel); the answer is recorded."""
        if not request_id:
            raise OrderActionError("A cancel needs a request id")
        ref = self.order(order_id, order_session_key)
        stored = self._request(order_id, "cancel_requested", request_id)
        if stored is None:
            if ref.status not in CANCELLABLE:
                raise OrderActionError(f"Cannot cancel order {order_id!r} in status {ref.status}")
            self._record_request("cancel", ref, request_id, None)
        try:
            self.api.cancel(ref.order_session_key, idempotency_key=self._key("cancel", ref, request_id))
        except FlexBusinessError as exc:
            self._answer("cancel_answered", ref, request_id, None, "FAILED", None, str(exc))
            raise
        self._answer("cancel_answered", ref, request_id, None, "SUCCESS", None, None)
        return {
            "order_id": order_id,
            "request_id": request_id,
            "status": "SUCCESS",
            "replayed": stored is not None,
        }

    # -- shared -----------------------------------------------------------------------------------

    def _record_request(
        self, operation: str, ref: OrderRef, request_id: str, amount_minor: int | None
    ) -> None:
        """A ``refund_requested`` / ``cancel_requested`` event, with the idempotency key it will send."""
        self.ledger.append_events(
            [
                _event(
                    mid=self.mid,
                    order_id=ref.order_id,
                    kind=f"{operation}_requested",
                    event_key=f"{ref.order_id}:{request_id}",
                    order_session_key=ref.order_session_key,
                    amount_minor=amount_minor,
                    currency=ref.currency if amount_minor is not None else None,
                    detail=self._key(operation, ref, request_id),
                )
            ]
        )

    def _request(self, order_id: str, kind: str, request_id: str) -> dict[str, Any] | None:
        """The stored request event of this order and request id (a retry), or None (a new request)."""
        key = f"{order_id}:{request_id}"
        found = [
            e
            for e in self.ledger.order_events(self.mid, order_id)
            if e["kind"] == kind and e["event_key"] == key
        ]
        return found[0] if found else None

    def _key(self, operation: str, ref: OrderRef, request_id: str) -> str:
        return idempotency_key(self.mid, ref.order_session_key, operation, request_id)

    def _answer(
        self,
        kind: str,
        ref: OrderRef,
        request_id: str,
        transaction_id: str | None,
        status: str,
        amount_minor: int | None,
        message: str | None,
    ) -> None:
        """Record Flex's answer once: keyed by Flex's transaction id, or the request id when it gives none."""
        self.ledger.append_events(
            [
                _event(
                    mid=self.mid,
                    order_id=ref.order_id,
                    kind=kind,
                    # A refusal never takes the key a later success of the same request may need.
                    event_key=transaction_id
                    or (request_id if status == "SUCCESS" else f"{request_id}:{status}"),
                    status=status,
                    order_session_key=ref.order_session_key,
                    amount_minor=amount_minor,
                    currency=ref.currency,
                    detail=f"request {request_id}" + (f": {message}" if message else ""),
                )
            ]
        )
