"""Event trigger that fires when new Flex webhook events land in the store (for an ``AssetWatcher``).

Example (DAG file)::

    from airflow.sdk import Asset, AssetWatcher
    from flex_provider.triggers.webhook_events import FlexWebhookEventTrigger

    flex_events = Asset(
        "flex_webhook_events",
        watchers=[AssetWatcher(name="flex_webhooks", trigger=FlexWebhookEventTrigger(conn_id="flex_ledger"))],
    )
    # DAG flex_reconcile: schedule=[flex_events]

The trigger only reads ``flex_webhook_events`` (it never creates or writes tables). Its watermark is the
largest event row id already announced; inside the triggerer it is kept in the asset's state store
(key ``flex_webhook_last_id``), so a triggerer restart neither re-fires nor skips. Without a state store it
starts at ``start_after_id`` (default 0: rows already present fire once; reconcile is idempotent).
Caveat: on PostgreSQL ids of concurrent transactions may commit out of order, so a row can appear below
the watermark; the next event or the daily reconcile picks it up (the DAG reads the table, not the payload).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

WATERMARK_KEY = "flex_webhook_last_id"


class FlexWebhookEventTrigger(BaseEventTrigger):
    """Poll the webhook events table; yield ``TriggerEvent`` when rows newer than the watermark exist.

    :param conn_id: Airflow SQL connection of the store (postgres or sqlite). Or give ``sqlalchemy_url``.
    :param sqlalchemy_url: SQLAlchemy URL of the store (tests, non-Airflow setups).
    :param poll_interval: seconds between polls.
    :param events: only count these event names (e.g. ``["order.completed", "order.expired"]``).
    :param start_after_id: watermark to start from when the asset state store has none.
    """

    def __init__(
        self,
        *,
        conn_id: str | None = None,
        sqlalchemy_url: str | None = None,
        poll_interval: float = 10.0,
        events: Sequence[str] | None = None,
        start_after_id: int = 0,
    ) -> None:
        super().__init__()
        if (conn_id is None) == (sqlalchemy_url is None):
            raise ValueError("give exactly one of conn_id or sqlalchemy_url")
        self.conn_id = conn_id
        self.sqlalchemy_url = sqlalchemy_url
        self.poll_interval = float(poll_interval)
        self.events = list(events) if events else None
        self.start_after_id = int(start_after_id)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "conn_id": self.conn_id,
                "sqlalchemy_url": self.sqlalchemy_url,
                "poll_interval": self.poll_interval,
                "events": self.events,
                "start_after_id": self.start_after_id,
            },
        )

    async def _url(self) -> Any:
        if self.sqlalchemy_url:
            return self.sqlalchemy_url
        from airflow.sdk import BaseHook

        from flex_provider.webhooks.store import url_from_connection

        conn = await BaseHook.aget_connection(self.conn_id)  # type: ignore[arg-type]
        return url_from_connection(conn)

    async def _load_watermark(self) -> int:
        store = self.asset_state_store
        if store is not None:
            try:
                value = await store.aget(WATERMARK_KEY)
                if value is not None:
                    return int(value)  # type: ignore[arg-type]
            except Exception:
                self.log.warning("could not read the watermark from the asset state store", exc_info=True)
        return self.start_after_id

    async def _save_watermark(self, value: int) -> None:
        store = self.asset_state_store
        if store is not None:
            try:
                await store.aset(WATERMARK_KEY, value)
            except Exception:
                self.log.warning("could not save the watermark to the asset state store", exc_info=True)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from sqlalchemy import func, select
        from sqlalchemy.exc import SQLAlchemyError

        from flex_provider.webhooks.store import events_table, make_engine

        engine = make_engine(await self._url())
        watermark = await self._load_watermark()
        t = events_table

        def _poll(after: int) -> tuple[int, int]:
            stmt = select(func.count(), func.max(t.c.id)).where(t.c.id > after)
            if self.events:
                stmt = stmt.where(t.c.event.in_(self.events))
            with engine.connect() as conn:
                count, newest = conn.execute(stmt).one()
            return int(count or 0), int(newest or after)

        try:
            while True:
                try:
                    count, newest = await asyncio.to_thread(_poll, watermark)
                except SQLAlchemyError as exc:
                    # Table not created yet or DB briefly down: keep watching, never write.
                    self.log.info("flex webhook events not readable yet (%s); retrying", type(exc).__name__)
                    count, newest = 0, watermark
                if count:
                    yield TriggerEvent(
                        {"new_events": count, "after_id": watermark, "last_id": newest, "events": self.events}
                    )
                    watermark = newest
                    await self._save_watermark(watermark)
                await asyncio.sleep(self.poll_interval)
        finally:
            engine.dispose()
