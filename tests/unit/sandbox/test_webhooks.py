"""``flex_provider.sandbox.webhooks``: the outbox sender signs, retries with ``IsResent``, and applies its faults.

A real ``WebhookSender`` (its SQLite outbox in a tmp dir) posting through httpx to an in-process ASGI
receiver (``httpx.ASGITransport``: no server), fed by a real ``SandboxState``'s order events.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from flex_provider.sandbox.state import SandboxState
from flex_provider.sandbox.webhooks import WebhookSender
from tests.unit.sandbox.support import DAY, mit_row

URL = "http://receiver.test:8443/flex/webhooks"


class Receiver:
    """ASGI app that records each POST and answers the next status of ``statuses`` (then 200)."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.got: list[tuple[dict[str, str], bytes]] = []

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        self.got.append(({k.decode(): v.decode() for k, v in scope["headers"]}, body))
        status = self.statuses.pop(0) if self.statuses else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"no" if status >= 300 else b"ok"})

    def payloads(self) -> list[dict]:
        return [json.loads(body) for _, body in self.got]


def deliver(sender: WebhookSender, receiver: Receiver) -> int:
    async def go() -> int:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver)) as client:
            return await sender.deliver_due(client)
    return asyncio.run(go())


@pytest.fixture
def state(tmp_path: Path):
    s = SandboxState(tmp_path / "state", seed=11, clock_speed=0, approve_rate=1.0)
    yield s
    s.close()


@pytest.fixture
def sender(state: SandboxState, tmp_path: Path):
    s = WebhookSender(state, state.merchant.webhook_subscriber_key, url=URL, db_path=tmp_path / "wh.sqlite3", seed=1)
    yield s
    s.close()


def test_an_order_event_is_posted_signed_with_the_subscriber_key(state: SandboxState, sender: WebhookSender) -> None:
    order = state.evaluate(state.merchant.mid, mit_row(state, "sub-w"))[1]["orderSessionKey"]
    state.clock.advance(15 * DAY)
    state.settle_due()
    receiver = Receiver()
    assert deliver(sender, receiver) == 1
    [(headers, body)] = receiver.got
    payload = json.loads(body)
    assert (payload["Event"], payload["OrderId"], payload["ExternalOrderId"], payload["IsResent"]) == (
        "order.completed", order, "sub-w", False)
    assert headers["host"] == "receiver.test:8443"
    assert headers["content-type"] == "application/json"
    assert headers["x-fc-content-sha512"] == base64.b64encode(hashlib.sha512(body).digest()).decode()
    text = f"POST\n{headers['x-fc-nonce']};{headers['x-fc-date']};receiver.test:8443;{headers['x-fc-content-sha512']}"
    key = base64.b64decode(state.merchant.webhook_subscriber_key)
    expected = base64.b64encode(hmac.new(key, text.encode(), hashlib.sha512).digest()).decode()
    assert headers["x-fc-signature"] == expected
    assert sender.counts() == {"pending": 0, "sent": 1, "dropped": 0, "failed": 0}


def test_a_refused_delivery_is_retried_and_marked_resent(sender: WebhookSender) -> None:
    sender.enqueue({"Event": "order.expired", "OrderId": "o-1", "IsResent": False})
    receiver = Receiver(500)
    deliver(sender, receiver)
    assert sender.counts()["pending"] == 1
    assert sender.status()["last_errors"][0]["status"] == 500
    assert deliver(sender, receiver) == 0  # backing off
    sender.redeliver_now()
    deliver(sender, receiver)
    assert [p["IsResent"] for p in receiver.payloads()] == [False, True]
    assert sender.counts()["sent"] == 1


def test_after_max_attempts_a_row_is_failed_and_no_longer_sent(state: SandboxState, tmp_path: Path) -> None:
    sender = WebhookSender(state, state.merchant.webhook_subscriber_key, url=URL, db_path=tmp_path / "f.sqlite3",
                           max_attempts=2)
    sender.enqueue({"Event": "order.expired"})
    receiver = Receiver(503, 503, 503)
    for _ in range(3):
        deliver(sender, receiver)
        sender.redeliver_now()
    assert len(receiver.got) == 2
    assert sender.counts()["failed"] == 1
    sender.close()


def test_drop_and_duplicate_faults(sender: WebhookSender) -> None:
    sender.set_faults(drop_ratio=1.0)
    sender.enqueue({"Event": "order.completed", "OrderId": "dropped"})
    receiver = Receiver()
    assert deliver(sender, receiver) == 0
    assert receiver.got == []
    assert sender.counts()["dropped"] == 1
    sender.set_faults(drop_ratio=0.0, duplicate_ratio=1.0)
    assert len(sender.enqueue({"Event": "order.completed", "OrderId": "twice", "IsResent": False})) == 2
    deliver(sender, receiver)
    assert sorted((p["OrderId"], p["IsResent"]) for p in receiver.payloads()) == [("twice", False), ("twice", True)]
    with pytest.raises(ValueError, match="unknown fault"):
        sender.set_faults(lose_ratio=0.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        sender.set_faults(drop_ratio=2)


def test_queued_rows_survive_a_restart_and_wait_while_there_is_no_target(
        state: SandboxState, sender: WebhookSender, tmp_path: Path) -> None:
    sender.enqueue({"Event": "order.completed", "OrderId": "kept"})
    sender.close()
    again = WebhookSender(state, state.merchant.webhook_subscriber_key, db_path=tmp_path / "wh.sqlite3")
    receiver = Receiver()
    assert deliver(again, receiver) == 0
    assert again.counts()["pending"] == 1
    again.set_target(URL)
    deliver(again, receiver)
    assert [p["OrderId"] for p in receiver.payloads()] == ["kept"]
    again.close()
