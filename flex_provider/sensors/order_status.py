"""Sensor that waits for a Flex order's final status, deferring to the triggerer while it waits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue, conf
from airflow.sdk.exceptions import AirflowException

if TYPE_CHECKING:
    from airflow.sdk import Context


class FlexOrderStatusSensor(BaseSensorOperator):
    """
    Wait until a Flex order is final (APPROVED/COMPLETED, EXPIRED, CANCELLED, RETURNED); XCom the outcome.

    :param order_session_key: Flex's order id.
    :param flex_conn_id: the ``flex`` connection.
    :param target_statuses: order status codes that end the wait; default every final status.
    :param deferrable: wait in the triggerer (only GETs happen there) instead of a worker slot.
    """

    template_fields: Sequence[str] = ("order_session_key", "flex_conn_id")

    def __init__(
        self,
        *,
        order_session_key: str,
        flex_conn_id: str = "flex_default",
        target_statuses: list[int] | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.order_session_key = order_session_key
        self.flex_conn_id = flex_conn_id
        self.target_statuses = target_statuses
        self.deferrable = deferrable

    def poke(self, context: Context) -> PokeReturnValue:
        from flex_provider.hooks.api import FlexApiHook

        with FlexApiHook(self.flex_conn_id) as hook:
            order = hook.get_order(self.order_session_key)
        done = order.status in self.target_statuses if self.target_statuses else order.is_final
        self.log.info("Flex order %s is %s", order.id, order.status_name)
        return PokeReturnValue(
            is_done=done,
            xcom_value={
                "order_session_key": order.id,
                "order_status": order.status,
                "status_name": order.status_name,
                "confirmation_id": order.confirmation_id,
            },
        )

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        from flex_provider.triggers.order_status import FlexOrderStatusTrigger

        self.defer(
            trigger=FlexOrderStatusTrigger(
                order_session_key=self.order_session_key,
                flex_conn_id=self.flex_conn_id,
                poll_interval=self.poke_interval,
                target_statuses=self.target_statuses,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout) if self.timeout else None,
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        if event.get("status") != "success":
            raise AirflowException(
                f"Waiting for Flex order {self.order_session_key} failed: {event.get('message')}"
            )
        return {
            k: event.get(k) for k in ("order_session_key", "order_status", "status_name", "confirmation_id")
        }
