"""The sandbox WebhookSender against the real receiver: retries across a receiver restart, faults, admin API."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from flex_provider.models.webhooks import STATUS_RANK
from flex_provider.sandbox.webhook_admin import admin_router
from flex_provider.sandbox.webhooks import WebhookSender
from flex_provider.webhooks.app import WebhookSettings, create_app
from flex_provider.webhooks.store import WebhookStore
from tests.fixtures.webhooks import ThreadServer

STATUS = {"order.completed": "APPROVED", "order.expired": "EXPIRED", "order.cancelled": "CANCELLED",
          "order.refunded": "REFUNDED"}  # fmt: skip


@dataclass
class FakeOrderEvent:
    """Shape of ``flex_provider.sandbox.state.OrderEvent`` (CONTRACTS.md)."""

    event: str
    order_id: str
    external_order_id: str
    mid: str
    status: str
    confirmation_id: str | None
    amount: int
    currency: str
    timestamp: datetime


class FakeState:
    def __init__(self) -> None:
        self.listeners: list[Any] = []

    def add_listener(self, fn: Any) -> None:
        self.listeners.append(fn)

    def emit(self, ev: FakeOrderEvent) -> None:
        for fn in self.listeners:
            fn(ev)


def make_events(n: int, seed: int = 3) -> tuple[list[FakeOrderEvent], dict[str, str]]:
    rng = random.Random(seed)
    t0 = datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc)
    out: list[FakeOrderEvent] = []
    per_order: dict[str, list[FakeOrderEvent]] = {}
    for i in range(n):
        order = f"ord-{i // 2:04d}"
        name = rng.choice(list(STATUS))
        ev = FakeOrderEvent(name, order, f"ext-{order}", "mid-1", STATUS[name], "ABCD1234", 1000 + i, "USD",
                            t0 + timedelta(seconds=i))  # fmt: skip
        out.append(ev)
        per_order.setdefault(order, []).append(ev)
    expected = {
        o: max(evs, key=lambda e: (STATUS_RANK[e.status], e.timestamp, e.status)).status
        for o, evs in per_order.items()
    }
    return out, expected


async def _wait(pred: Any, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not pred():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.02)


def test_receiver_restart_mid_burst_loses_nothing(webhook_store_url: str, webhook_key: str, tmp_path: Path):
    settings = WebhookSettings(subscriber_keys=[webhook_key], db_url=webhook_store_url)
    srv = ThreadServer(create_app(settings)).start()
    state = FakeState()
    sender = WebhookSender(state, webhook_key, url=f"{srv.base_url}/webhooks", db_path=tmp_path / "outbox.db",
                           retry_base=0.05, retry_max=0.4, timeout=5, concurrency=8, seed=5)  # fmt: skip
    sender.set_faults(duplicate_ratio=0.2, reorder=True, delay_ms=20)
    events, expected = make_events(300)

    async def scenario() -> None:
        task = asyncio.create_task(sender.run())
        try:
            for ev in events:
                state.emit(ev)
            await _wait(lambda: sender.counts()["sent"] >= 60)
            await asyncio.to_thread(srv.stop)  # receiver "crashes" mid-burst
            await asyncio.sleep(0.5)
            assert sender.counts()["pending"] > 0
            restarted = ThreadServer(create_app(settings), port=srv.port)
            await asyncio.to_thread(restarted.start)
            try:
                assert await sender.wait_idle(60), sender.status()
            finally:
                await asyncio.to_thread(restarted.stop)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    try:
        asyncio.run(scenario())
        status = sender.status()
        assert status["failed"] == 0
        assert status["dropped"] == 0
        assert status["sent"] > 300  # duplicates were sent too
        assert status["attempts"] > status["sent"]  # some deliveries were retried
        store = WebhookStore.from_url(webhook_store_url)
        assert store.count_events() == 300
        assert {o: s["status"] for o, s in store.order_states().items()} == expected
        store.dispose()
    finally:
        srv.stop()
        sender.close()


def test_admin_router_and_faults(webhook_key: str, tmp_path: Path, webhook_server: Any):
    db_url = f"sqlite:///{tmp_path / 'recv.db'}"
    srv = webhook_server(create_app(WebhookSettings(subscriber_keys=[webhook_key], db_url=db_url)))
    sender = WebhookSender(FakeState(), webhook_key, db_path=tmp_path / "outbox.db", retry_base=0.01, seed=1)
    app = FastAPI()
    app.include_router(admin_router(sender), prefix="/_sandbox/webhooks")

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as c:
            base = "/_sandbox/webhooks"
            assert (await c.post(f"{base}/faults", json={"nope": 1})).status_code == 422
            assert (await c.post(f"{base}/faults", json={"drop_ratio": 2})).status_code == 422
            events = [
                {"Event": "order.completed", "OrderId": f"o{i}", "ExternalOrderId": f"e{i}"} for i in range(5)
            ]
            queued = await c.post(f"{base}/send", json={"events": events})
            assert queued.json()["queued"] == 5
            out = (await c.get(f"{base}/outbox")).json()
            assert (out["pending"], out["sent"], out["target"]) == (5, 0, None)
            assert await sender.deliver_due() == 0  # no target yet: nothing leaves
            await c.post(f"{base}/target", json={"url": f"{srv.base_url}/webhooks"})
            while await sender.deliver_due():
                pass
            assert (await c.get(f"{base}/outbox")).json()["sent"] == 5
            # drop everything, then duplicate everything
            await c.post(f"{base}/faults", json={"drop_ratio": 1})
            await c.post(f"{base}/send", json=[{"Event": "order.expired", "OrderId": "x"}])
            assert sender.counts()["dropped"] == 1
            await c.post(f"{base}/faults/reset")
            await c.post(f"{base}/faults", json={"duplicate_ratio": 1})
            ids = (await c.post(f"{base}/send", json=[{"Event": "order.refunded", "OrderId": "o1"}])).json()[
                "ids"
            ]
            assert len(ids) == 2
            # a receiver that rejects: stays pending, attempts counted, IsResent on the retry
            sender.set_target(f"{srv.base_url}/nowhere")
            await sender.deliver_due()
            st = sender.status()
            assert st["pending"] == 2
            assert st["last_errors"][0]["status"] == 404
            sender.set_target(f"{srv.base_url}/webhooks")
            sender.redeliver_now()
            while await sender.deliver_due():
                pass
            assert sender.counts()["pending"] == 0

    asyncio.run(scenario())
    store = WebhookStore.from_url(db_url)
    rows = store.events_after(0)
    assert len(rows) == 6
    refund = [r for r in rows if r["event"] == "order.refunded"]
    assert refund[0]["is_resent"] is True
    assert store.order_state("o1")["status"] == "REFUNDED"
    store.dispose()
    sender.close()


@pytest.mark.parametrize("bad", ["not base64!", ""])
def test_sender_rejects_bad_key(bad: str, tmp_path: Path):
    with pytest.raises(ValueError, match="subscriber key"):
        WebhookSender(FakeState(), bad, db_path=tmp_path / "o.db")


def test_real_sandbox_delivers_to_receiver(sandbox_factory: Any, webhook_server: Any, tmp_path: Path):
    """The sandbox subprocess (cli wiring, admin API under /_sandbox/webhooks) signs with its own key."""
    import time

    sb = sandbox_factory()
    key, admin = sb.info["webhook_subscriber_key"], sb.info["admin_url"]
    db_url = f"sqlite:///{tmp_path / 'sb.db'}"
    srv = webhook_server(create_app(WebhookSettings(subscriber_keys=[key], db_url=db_url)))
    with httpx.Client(base_url=f"{admin}/webhooks", timeout=10) as c:
        assert c.post("/target", json={"url": f"{srv.base_url}/webhooks"}).status_code == 200
        c.post("/faults", json={"duplicate_ratio": 0.5, "reorder": True})
        events = [{"Event": "order.completed", "OrderId": f"sb-{i}", "Amount": 100 + i} for i in range(20)]
        events += [{"Event": "order.refunded", "OrderId": "sb-0"}]
        assert c.post("/send", json={"events": events}).json()["queued"] >= 21
        deadline = time.monotonic() + 30
        while (out := c.get("/outbox").json())["pending"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (out["pending"], out["failed"]) == (0, 0), out
    store = WebhookStore.from_url(db_url)
    assert store.count_events() == 21
    assert store.order_state("sb-0")["status"] == "REFUNDED"
    assert store.order_state("sb-1")["amount"] == 101
    store.dispose()
