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

if TYPE_CHECKING:
    from airflow.sdk import Context

    from flex_provider.hooks.api import FlexApiHook

#: Errors a retry cannot fix: fail the task at once instead of burning Airflow retries.
FINAL_ERRORS = (FlexValidationError, FlexBusinessError, FlexNotFoundError, FlexConflictError, FlexAuthError)


class _FlexApiOperator(BaseOperator):
    """Shared plumbing: the hook, and turning errors a retry cannot fix into a failed task."""

    ui_color = "#e8f0fe"

    def __init__(self, *, flex_conn_id: str = "flex_default", **kwargs: Any) -> None:
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
    :param flex_conn_id: the ``flex`` connection.
    """

    template_fields: Sequence[str] = ("request", "flex_conn_id")
    template_fields_renderers: ClassVar[dict[str, str]] = {"request": "json"}

    def __init__(self, *, request: Mapping[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.request = request

    def call(self, hook: FlexApiHook) -> dict[str, Any]:
        from flex_provider.models.api import EvaluateRequest

        body = dict(self.request)
        order_id = str(body.get("orderId") or body.get("order_id") or "")
        if not (body.get("idempotencyKey") or body.get("idempotency_key")):
            mid = str(body.get("mid") or hook.settings.mid or "")
            body["idempotencyKey"] = idempotency_key(mid, order_id, "evaluate")
        response = hook.evaluate(EvaluateRequest.model_validate(body))
        self.log.info(
            "Evaluated order %s: %s (Flex order %s)", order_id, response.status, response.order_session_key
        )
        return {
            "order_id": order_id,
            "order_session_key": response.order_session_key,
            "status": response.status,
        }


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


class FlexRefundOperator(_FlexApiOperator):
    """
    Refund an APPROVED Flex order in full or in part (POST /orders/{id}/refund).

    :param order_session_key: Flex's order id.
    :param amount: dollars to refund; None refunds what is left of the order.
    :param reason: refund message kept by Flex.
    :param refund_reference: your id of this refund; with the amount it makes the idempotency key, so two
        different partial refunds of the same amount need two references.
    """

    template_fields: Sequence[str] = (
        "order_session_key",
        "amount",
        "reason",
        "refund_reference",
        "flex_conn_id",
    )

    def __init__(
        self,
        *,
        order_session_key: str,
        amount: Decimal | float | str | None = None,
        reason: str | None = None,
        refund_reference: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.order_session_key = order_session_key
        self.amount = amount
        self.reason = reason
        self.refund_reference = refund_reference

    def call(self, hook: FlexApiHook) -> dict[str, Any]:
        if self.amount in (None, ""):
            order = hook.get_order(self.order_session_key)
            left = (order.amount or 0) - (order.refunded_amount or 0)
            amount = Decimal(left) / 100
        else:
            amount = Decimal(str(self.amount))
        key = idempotency_key(
            hook.settings.mid or "", self.order_session_key, "refund", self.refund_reference or "", amount
        )
        response = hook.refund(self.order_session_key, amount, message=self.reason, idempotency_key=key)
        self.log.info("Refunded %s on Flex order %s: %s", amount, self.order_session_key, response.status)
        return {
            "order_session_key": self.order_session_key,
            "amount": str(amount),
            "status": response.status,
            "transaction_id": response.transaction_id,
        }


class FlexCancelOperator(_FlexApiOperator):
    """
    Cancel a PENDING Flex order (POST /orders/{id}/cancel, or /external-cancel by your order id).

    :param order_session_key: Flex's order id; give this or ``external_order_id``.
    :param external_order_id: your order id, when Flex's id is unknown (e.g. /evaluate timed out).
    """

    template_fields: Sequence[str] = ("order_session_key", "external_order_id", "flex_conn_id")

    def __init__(
        self, *, order_session_key: str | None = None, external_order_id: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.order_session_key = order_session_key
        self.external_order_id = external_order_id

    def call(self, hook: FlexApiHook) -> dict[str, Any]:
        mid = hook.settings.mid or ""
        if self.order_session_key:
            key = idempotency_key(mid, self.order_session_key, "cancel")
            hook.cancel(self.order_session_key, idempotency_key=key)
        elif self.external_order_id:
            key = idempotency_key(mid, self.external_order_id, "external-cancel")
            hook.external_cancel(self.external_order_id, idempotency_key=key)
        else:
            raise AirflowFailException("FlexCancelOperator needs order_session_key or external_order_id")
        self.log.info("Cancelled Flex order %s", self.order_session_key or self.external_order_id)
        return {"order_session_key": self.order_session_key, "external_order_id": self.external_order_id}
