"""FlexWebhookEventTrigger: serialize round trip, read-only polling, watermark in the asset state store."""

from __future__ import annotations

import asyncio
import importlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect

from flex_provider.models.webhooks import FlexWebhookEvent
from flex_provider.triggers.webhook_events import WATERMARK_KEY, FlexWebhookEventTrigger
from flex_provider.webhooks.store import WebhookStore


class FakeAssetStateStore:
    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    async def aget(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        self.data[key] = value


def _ev(order: str, name: str = "order.completed") -> FlexWebhookEvent:
    return FlexWebhookEvent(event=name, timestamp=datetime(2026, 11, 25, tzinfo=timezone.utc), order_id=order)


def test_serialize_round_trip():
    trig = FlexWebhookEventTrigger(conn_id="flex_ledger", poll_interval=2, events=["order.completed"])
    classpath, kwargs = trig.serialize()
    module, name = classpath.rsplit(".", 1)
    again = getattr(importlib.import_module(module), name)(**kwargs)
    assert again.serialize() == (classpath, kwargs)
    assert kwargs == {"conn_id": "flex_ledger", "sqlalchemy_url": None, "poll_interval": 2.0,
                      "events": ["order.completed"], "start_after_id": 0}  # fmt: skip
    with pytest.raises(ValueError, match="exactly one"):
        FlexWebhookEventTrigger()


def test_run_yields_after_insert_and_stays_read_only(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'events.db'}"

    async def scenario() -> None:
        trig = FlexWebhookEventTrigger(sqlalchemy_url=url, poll_interval=0.05)
        trig.asset_state_store = FakeAssetStateStore()  # what the triggerer injects for an AssetWatcher
        gen = trig.run()
        first = asyncio.ensure_future(gen.__anext__())
        await asyncio.sleep(0.3)
        assert not first.done()  # no table yet: keeps polling, creates nothing
        assert inspect(create_engine(url)).get_table_names() == []
        store = WebhookStore.from_url(url)
        await asyncio.sleep(0.2)
        assert not first.done()  # empty table: nothing to announce
        store.ingest(_ev("a"), b"{}")
        event = await asyncio.wait_for(first, 5)
        assert event.payload["new_events"] == 1
        assert event.payload["last_id"] == 1
        store.ingest(_ev("b"), b"{}")
        store.ingest(_ev("c", "order.expired"), b"{}")
        event = await asyncio.wait_for(gen.__anext__(), 5)
        assert (event.payload["new_events"], event.payload["after_id"], event.payload["last_id"]) == (2, 1, 3)
        # the watermark is saved when the triggerer resumes the generator (after the event was queued)
        assert trig.asset_state_store.data[WATERMARK_KEY] == 1
        resume = asyncio.ensure_future(gen.__anext__())
        await asyncio.sleep(0.1)
        resume.cancel()
        await asyncio.gather(resume, return_exceptions=True)
        assert trig.asset_state_store.data[WATERMARK_KEY] == 3

        # a restarted trigger resumes from the stored watermark and filters by event name
        again = FlexWebhookEventTrigger(sqlalchemy_url=url, poll_interval=0.05, events=["order.expired"])
        again.asset_state_store = trig.asset_state_store
        gen = again.run()
        nxt = asyncio.ensure_future(gen.__anext__())
        await asyncio.sleep(0.2)
        assert not nxt.done()
        store.ingest(_ev("d"), b"{}")  # not an expired event: ignored
        await asyncio.sleep(0.2)
        assert not nxt.done()
        store.ingest(_ev("e", "order.expired"), b"{}")
        event = await asyncio.wait_for(nxt, 5)
        assert (event.payload["new_events"], event.payload["last_id"]) == (1, 5)
        await gen.aclose()
        store.dispose()

    asyncio.run(scenario())
