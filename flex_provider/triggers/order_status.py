"""Trigger that waits for a Flex order to reach a final status; it only reads (GET /orders/{id})."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from flex_provider.exceptions import FlexConnectionError, FlexRateLimitError, FlexServerError


class FlexOrderStatusTrigger(BaseTrigger):
    """
    Poll one Flex order until its status is final (or one of ``target_statuses``).

    :param order_session_key: Flex's order id.
    :param flex_conn_id: the ``flex`` connection.
    :param poll_interval: seconds between polls.
    :param target_statuses: status codes that end the wait; default every final status.
    """

    def __init__(
        self,
        order_session_key: str,
        flex_conn_id: str = "flex_default",
        poll_interval: float = 60.0,
        target_statuses: list[int] | None = None,
    ) -> None:
        super().__init__()
        self.order_session_key = order_session_key
        self.flex_conn_id = flex_conn_id
        self.poll_interval = poll_interval
        self.target_statuses = list(target_statuses) if target_statuses else None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "order_session_key": self.order_session_key,
                "flex_conn_id": self.flex_conn_id,
                "poll_interval": self.poll_interval,
                "target_statuses": self.target_statuses,
            },
        )

    def _done(self, status: int, is_final: bool) -> bool:
        return status in self.target_statuses if self.target_statuses else is_final

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from flex_provider.hooks.api import FlexApiAsyncHook

        async with FlexApiAsyncHook(self.flex_conn_id) as hook:
            while True:
                try:
                    order = await hook.get_order(self.order_session_key)
                except (FlexConnectionError, FlexServerError, FlexRateLimitError) as exc:
                    # The hook already retried; a passing outage is no reason to fail a long wait.
                    self.log.warning("Flex order %s not readable yet: %s", self.order_session_key, exc)
                except Exception as exc:  # noqa: BLE001 - everything else ends the wait with the reason
                    yield TriggerEvent(
                        {"status": "error", "message": str(exc), "order_session_key": self.order_session_key}
                    )
                    return
                else:
                    if self._done(order.status, order.is_final):
                        yield TriggerEvent(
                            {
                                "status": "success",
                                "order_session_key": order.id,
                                "order_status": order.status,
                                "status_name": order.status_name,
                                "confirmation_id": order.confirmation_id,
                            }
                        )
                        return
                    self.log.info(
                        "Flex order %s is %s; next check in %ss",
                        order.id,
                        order.status_name,
                        self.poll_interval,
                    )
                await asyncio.sleep(self.poll_interval)
