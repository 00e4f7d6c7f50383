"""Operators for Flex's REST channel: every POST runs on the worker with a deterministic idempotency key."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from flex_provider.exceptions import (
    FlexAuthError,
    FlexBusinessError,
    FlexConflictError,
    FlexNotFoundError,
    FlexValidationError,
)
from flex_provider.idempotency import idempotency_key
from flex_provider.operators.common import FLEX_CONN_ID, LEDGER_CONN_ID

if TYPE_CHECKING:
    from airflow.sdk import Context

    from flex_provider.hooks.api import FlexApiHook
    from flex_provider.order_actions import OrderActions

#: Errors a retry cannot fix: fail the task at once instead of burning Airflow retries.
FINAL_ERRORS = (FlexValidationError, FlexBusinessError, FlexNotFoundError, FlexConflictError, FlexAuthError)


class _FlexApiOperator(BaseOperator):
    """Shared plumbing: the hook, and turning errors a retry cannot fix into a failed task."""

    ui_color = "#e8f0fe"

    def __init__(self, *, flex_conn_id: str = FLEX_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.flex_conn_id = flex_conn_id

    @property
    def hook(self) -> FlexApiHook:
        from flex_provider.hooks.api import FlexApiHook

        return FlexApiHook(self.flex_conn_id)

    def execute(self, context: Context) -> Any:
        hook = self.hook
        try:
            return self.call(hook)
        except FINAL_ERRORS as exc:
            raise AirflowFailException(str(exc)) from exc
        finally:
            hook.close()

    def call(self, hook: FlexApiHook) -> Any:
        raise NotImplementedError


class FlexEvaluateOperator(_FlexApiOperator):
    """
    Hand one declined transaction to Flex (POST /evaluate); returns Flex's order id and status.

    :param request: the /evaluate body (camelCase or snake_case keys). Without ``idempotencyKey`` the key is
        derived from (mid, orderId, "evaluate"), so a retry, a clear or a backfill sends the same key.
    :param ledger_conn_id: when given, Flex's answer is recorded in that ledger as an ``evaluated`` event
        (keyed by the idempotency key: a rerun adds nothing), so the reconcile sweep, refunds, cancels and
        the projection know the order as they know a shipped batch row.
    :param business_date: the order's business date in the ledger (templated; default: the transaction's
        UTC date).
    :param flex_conn_id: the ``flex`` connection.
    """

    template_fields: Sequence[str] = ("request", "flex_conn_id", "ledger_conn_id", "business_date")
    template_fields_renderers: ClassVar[dict[str, str]] = {"request": "json"}

    def __init__(
        self,
        *,
        request: Mapping[str, Any],
        ledger_conn_id: str | None = None,
        business_date: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.request = request
        self.ledger_conn_id = ledger_conn_id
        self.business_date = business_date

    def call(self, hook: FlexApiHook) -> dict[str, Any]:
        from flex_provider.models.api import EvaluateRequest

        body = dict(self.request)
        order_id = str(body.get("orderId") or body.get("order_id") or "")
        mid = str(body.get("mid") or hook.settings.mid or "")
        if not (body.get("idempotencyKey") or body.get("idempotency_key")):
            body["idempotencyKey"] = idempotency_key(mid, order_id, "evaluate")
        request = EvaluateRequest.model_validate(body)
        response = hook.evaluate(request)
        self.log.info(
            "Evaluated order %s: %s (Flex order %s)", order_id, response.status, response.order_session_key
        )
        if self.ledger_conn_id:
            self._record(mid, order_id, request, response.order_session_key)
        return {
            "order_id": order_id,
            "order_session_key": response.order_session_key,
            "status": response.status,
        }

    def _record(self, mid: str, order_id: str, request: Any, order_session_key: str | None) -> None:
        """Flex took the order: an ``evaluated`` event, unique by the idempotency key."""
        from datetime import date, datetime, timezone

        from flex_provider.ledger import FlexLedger
        from flex_provider.ledger.events import OrderEvent

        tx = request.transaction
        day = (
            date.fromisoformat(str(self.business_date)[:10])
            if self.business_date
            else (tx.timestamp_utc or datetime.now(timezone.utc)).astimezone(timezone.utc).date()
        )
        ledger = FlexLedger(self.ledger_conn_id)
        try:
            ledger.append_events(
                [
                    OrderEvent(
                        mid=mid,
                        order_id=order_id,
                        kind="evaluated",
                        event_key=str(request.idempotency_key),
                        status="SHIPPED",
                        order_session_key=order_session_key,
                        amount_minor=tx.amount,
                        currency=tx.currency.upper(),
                        flex_time=datetime.now(timezone.utc),
                        business_date=day,
                        expiry_at=request.expiry_date_utc,
                    )
                ]
            )
        finally:
            ledger.engine.dispose()


class FlexTransmitOperator(_FlexApiOperator):
    """
    Send Flex a copy of one approved transaction (POST /transmit); fire and forget.

    :param request: the /transmit body.
    :param flex_conn_id: the ``flex`` connection.
    """

    template_fields: Sequence[str] = ("request", "flex_conn_id")
    template_fields_renderers: ClassVar[dict[str, str]] = {"request": "json"}

    def __init__(self, *, request: Mapping[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.request = request

    def call(self, hook: FlexApiHook) -> dict[str, Any]:
        from flex_provider.models.api import TransmitRequest

        response = hook.transmit(TransmitRequest.model_validate(dict(self.request)))
        order_id = str(self.request.get("orderId") or self.request.get("order_id") or "")
        self.log.info("Transmitted order %s (transmit id %s)", order_id, response.transmit_id)
        return {"order_id": order_id, "transmit_id": response.transmit_id}


class _FlexOrderActionOperator(_FlexApiOperator):
    """Shared plumbing of refund and cancel: the ledger, the merchant id, and errors that end the task."""

    def __init__(
        self,
        *,
        order_id: str,
        request_id: str,
        order_session_key: str | None = None,
        mid: str | None = None,
        ledger_conn_id: str = LEDGER_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.order_id = order_id
        self.request_id = request_id
        self.order_session_key = order_session_key
        self.mid = mid
        self.ledger_conn_id = ledger_conn_id

    def call(self, hook: FlexApiHook) -> dict[str, Any]:
        from flex_provider.ledger import FlexLedger
        from flex_provider.order_actions import OrderActionError, OrderActions

        ledger = FlexLedger(self.ledger_conn_id)
        try:
            return self.act(OrderActions(hook, ledger, mid=self.mid or None))
        except OrderActionError as exc:
            raise AirflowFailException(str(exc)) from exc
        finally:
            ledger.engine.dispose()

    def act(self, actions: OrderActions) -> dict[str, Any]:
        raise NotImplementedError


class FlexRefundOperator(_FlexOrderActionOperator):
    """
    Refund an approved Flex order in full or in part (POST /orders/{id}/refund), through the ledger.

    The idempotency key comes from ``request_id``: a retry or a cleared run sends the same refund once,
    a new request id is a new refund (two equal partial refunds are two refunds). The request and Flex's
    answer are ledger events; the projection then writes the merchant's order.

    :param order_id: your order id (the ledger knows its Flex order id, amount and currency).
    :param request_id: your id of this refund (templated; e.g. the DAG run id).
    :param amount: major units as a decimal string (``"19.99"``, ``"100"`` JPY); empty = what is left.
    :param reason: refund message kept by Flex.
    :param order_session_key: Flex's order id, when the ledger does not know the order.
    :param mid: merchant id (default: the ``flex`` connection's).
    :param ledger_conn_id: SQL connection of the ledger.
    """

    template_fields: Sequence[str] = (
        "order_id",
        "request_id",
        "amount",
        "reason",
        "order_session_key",
        "mid",
        "flex_conn_id",
        "ledger_conn_id",
    )

    def __init__(
        self, *, amount: Decimal | str | int | None = None, reason: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.amount = amount
        self.reason = reason

    def act(self, actions: OrderActions) -> dict[str, Any]:
        amount = None if self.amount in (None, "", "None") else self.amount
        return actions.refund(
            self.order_id,
            request_id=self.request_id,
            amount=amount,
            reason=self.reason or None,
            order_session_key=self.order_session_key or None,
        )


class FlexCancelOperator(_FlexOrderActionOperator):
    """
    Cancel an order Flex still works on (POST /orders/{id}/cancel), through the ledger.

    :param order_id: your order id.
    :param request_id: your id of this cancel (templated; e.g. the DAG run id); it makes the key.
    :param order_session_key: Flex's order id, when the ledger does not know the order.
    """

    template_fields: Sequence[str] = (
        "order_id",
        "request_id",
        "order_session_key",
        "mid",
        "flex_conn_id",
        "ledger_conn_id",
    )

    def act(self, actions: OrderActions) -> dict[str, Any]:
        return actions.cancel(
            self.order_id, request_id=self.request_id, order_session_key=self.order_session_key or None
        )


class FlexExternalCancelOperator(_FlexApiOperator):
    """
    Cancel by your own order id (POST /orders/{id}/external-cancel): the fallback when Flex's order id is
    unknown (an /evaluate that timed out). Nothing is recorded: the ledger has no Flex order to tie it to.

    :param external_order_id: your order id.
    """

    template_fields: Sequence[str] = ("external_order_id", "flex_conn_id")

    def __init__(self, *, external_order_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.external_order_id = external_order_id

    def call(self, hook: FlexApiHook) -> dict[str, Any]:
        key = idempotency_key(hook.settings.mid or "", self.external_order_id, "external-cancel")
        hook.external_cancel(self.external_order_id, idempotency_key=key)
        self.log.info("Cancelled the Flex order of your order %s", self.external_order_id)
        return {"external_order_id": self.external_order_id}
