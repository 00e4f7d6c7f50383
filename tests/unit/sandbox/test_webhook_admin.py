"""``flex_provider.sandbox.webhook_admin``: ``/_sandbox/webhooks`` points the sender, sets faults, injects events.

The router around a real ``WebhookSender`` (SQLite outbox in a tmp dir), in-process ``TestClient``.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from flex_provider.sandbox.webhook_admin import admin_router
from flex_provider.sandbox.webhooks import WebhookSender

KEY = "c2Vjb25kLXZlY3Rvci1rZXk="


@pytest.fixture
def env(tmp_path: Path):
    sender = WebhookSender(object(), KEY, db_path=tmp_path / "wh.sqlite3", is_test_mode=True)
    app = FastAPI()
    app.include_router(admin_router(sender), prefix="/_sandbox/webhooks")
    with TestClient(app) as client:
        yield sender, client, tmp_path / "wh.sqlite3"
    sender.close()


def queued(db: Path) -> list[dict]:
    with sqlite3.connect(db) as conn:
        return [json.loads(r[0]) for r in conn.execute("SELECT payload FROM webhook_outbox ORDER BY id")]


def test_send_fills_in_missing_keys_unless_raw(env) -> None:
    _, client, db = env
    body = client.post("/_sandbox/webhooks/send", json={"events": [{"Event": "order.completed", "OrderId": "o-1"}]})
    assert body.json()["queued"] == 1
    client.post("/_sandbox/webhooks/send", json={"raw": True, "events": [{"Event": "odd"}]})
    full, raw = queued(db)
    assert (full["OrderId"], full["IsTestMode"], full["IsResent"], full["ExternalOrderId"]) == ("o-1", True, False, None)
    assert full["TimeStamp"].endswith("Z")
    assert raw == {"Event": "odd"}


def test_send_applies_faults_unless_told_not_to(env) -> None:
    sender, client, _ = env
    sender.set_faults(drop_ratio=1.0)
    client.post("/_sandbox/webhooks/send", json={"events": [{"Event": "a"}]})
    client.post("/_sandbox/webhooks/send", json={"apply_faults": False, "events": [{"Event": "b"}]})
    assert (sender.counts()["dropped"], sender.counts()["pending"]) == (1, 1)


def test_bad_bodies_knobs_and_urls_are_422(env) -> None:
    sender, client, _ = env
    assert client.post("/_sandbox/webhooks/send", json={"events": "nope"}).status_code == 422
    assert client.post("/_sandbox/webhooks/faults", json={"lose": 1}).status_code == 422
    assert client.post("/_sandbox/webhooks/faults", json={"drop_ratio": 3}).status_code == 422
    assert client.post("/_sandbox/webhooks/target", json={"url": "http://host:port/"}).status_code == 422
    ok = client.post("/_sandbox/webhooks/target", json={"url": "http://127.0.0.1:9/hook"}).json()
    assert ok["target"] == "http://127.0.0.1:9/hook" == sender.url
    assert client.post("/_sandbox/webhooks/faults", json={"reorder": True}).json()["faults"]["reorder"] is True
    assert client.post("/_sandbox/webhooks/faults/reset").json()["faults"]["reorder"] is False
