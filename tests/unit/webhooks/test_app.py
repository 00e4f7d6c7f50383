"""The receiver app in-process (no server, SQLite store): a signed delivery is stored once, anything else nothing."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from flex_provider.webhooks.app import WebhookSettings, create_app
from flex_provider.webhooks.signature import sign_request
from flex_provider.webhooks.store import WebhookStore

HOST = "hooks.test"


def _body(order: str = "ord-1") -> bytes:
    return json.dumps({"Event": "order.completed", "TimeStamp": "2026-11-25T10:00:00.000Z", "OrderId": order,
                       "ExternalOrderId": f"ext-{order}", "Amount": 1299, "Currency": "USD"}).encode()  # fmt: skip


@pytest.fixture
def world(tmp_path: Path):
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    url = f"sqlite:///{tmp_path / 'hooks.db'}"
    settings = WebhookSettings(subscriber_keys=[key], db_url=url, max_body_bytes=1024)
    with TestClient(create_app(settings), base_url=f"http://{HOST}") as client:
        store = WebhookStore.from_url(url)
        yield client, key, store
        store.dispose()


def _post(client: TestClient, body: bytes, key: str, **headers: Any):
    signed = {**sign_request(body, key, HOST, date=datetime.now(timezone.utc)), "Content-Type": "text/plain", **headers}
    return client.post("/webhooks", content=body, headers=signed)


def test_a_signed_delivery_is_stored_once_and_a_resend_is_a_duplicate(world) -> None:
    client, key, store = world
    first = _post(client, _body(), key)
    assert first.status_code == 200
    assert (first.json()["stored"], first.json()["duplicate"]) == (True, False)
    again = _post(client, _body(), key)  # Flex resends: a new nonce, the same event
    assert again.status_code == 200
    assert (again.json()["stored"], again.json()["duplicate"]) == (False, True)
    assert len(store.events_after(0)) == 1


def test_a_bad_signature_an_oversized_body_and_a_wrong_shape_store_nothing(world) -> None:
    client, key, store = world
    other = base64.b64encode(secrets.token_bytes(32)).decode()
    assert _post(client, _body(), other).status_code == 401
    assert _post(client, b"x" * 2048, key).json()["reason"] == "content_length"  # over max_body_bytes
    wrong = _post(client, json.dumps({"Event": "order.completed"}).encode(), key)
    assert wrong.status_code == 400
    assert wrong.json()["reason"] == "unknown_shape"
    assert "TimeStamp" in wrong.json()["detail"]
    assert store.events_after(0) == []


def test_health_names_the_store(world) -> None:
    client, _, _ = world
    answer = client.get("/health")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "dialect": "sqlite"}
