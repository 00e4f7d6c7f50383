"""The receiver under uvicorn on 127.0.0.1, against a SQLite file and the machine's PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import json
import random
import secrets
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from flex_provider.models.webhooks import FlexWebhookEvent
from flex_provider.webhooks import app as app_module
from flex_provider.webhooks.app import WebhookSettings, create_app
from flex_provider.webhooks.signature import sign_request
from flex_provider.webhooks.store import WebhookStore

EVENTS = [
    "order.completed",
    "order.expired",
    "order.cancelled",
    "order.refunded",
    "payment.chargeback.received",
]


def payload(
    order: str = "ord-1", event: str = "order.completed", ts: datetime | None = None, **extra: Any
) -> dict:
    ts = ts or datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)
    return {
        "Event": event, "TimeStamp": ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "EventData": None,
        "ExternalOrderId": f"ext-{order}", "OrderId": order, "ConfirmationId": "22ACD1D9",
        "IsTestMode": True, "IsResent": False, "Amount": 1299, "Currency": "USD", **extra,
    }  # fmt: skip


def signed(body: bytes, key: str, base_url: str, **kw: Any) -> dict[str, str]:
    host = httpx.URL(base_url).netloc.decode()
    return {**sign_request(body, key, host, **kw), "Content-Type": "text/plain"}


def post(client: httpx.Client, base_url: str, body: bytes, key: str, **kw: Any) -> httpx.Response:
    return client.post(f"{base_url}/webhooks", content=body, headers=signed(body, key, base_url, **kw))


@pytest.fixture
def receiver(webhook_store_url: str, webhook_key: str, webhook_server: Any) -> Any:
    settings = WebhookSettings(subscriber_keys=[webhook_key], db_url=webhook_store_url, max_body_bytes=4096)
    srv = webhook_server(create_app(settings))
    store = WebhookStore.from_url(webhook_store_url)
    yield srv, store
    store.dispose()


def test_valid_event_stored_once(receiver: Any, webhook_key: str):
    srv, store = receiver
    body = json.dumps(payload()).encode()
    with httpx.Client() as c:
        first = post(c, srv.base_url, body, webhook_key)
        assert first.status_code == 200, first.text
        assert first.json()["stored"] is True
        resent = json.dumps(payload(IsResent=True)).encode()
        again = post(c, srv.base_url, resent, webhook_key)
        assert again.status_code == 200
        assert again.json() == {"stored": False, "duplicate": True, "event_id": None}
        assert c.get(f"{srv.base_url}/health").json()["status"] == "ok"
    assert store.count_events() == 1
    row = store.events_after(0)[0]
    assert row["payload"] == body.decode()
    assert (row["order_id"], row["status"], row["amount"], row["currency"]) == (
        "ord-1",
        "APPROVED",
        1299,
        "USD",
    )
    assert store.order_state("ord-1")["status"] == "APPROVED"


def test_rejections_store_nothing(receiver: Any, webhook_key: str):
    srv, store = receiver
    url = srv.base_url
    body = json.dumps(payload()).encode()
    wrong_key = base64.b64encode(secrets.token_bytes(32)).decode()
    now = datetime.now(timezone.utc)

    def tampered(c: httpx.Client) -> httpx.Response:
        headers = signed(body, webhook_key, url)
        return c.post(f"{url}/webhooks", content=body.replace(b"1299", b"9999"), headers=headers)

    def tampered_hash_too(c: httpx.Client) -> httpx.Response:
        evil = body.replace(b"1299", b"9999")
        headers = signed(body, webhook_key, url)
        headers["x-fc-content-sha512"] = signed(evil, webhook_key, url)["x-fc-content-sha512"]
        return c.post(f"{url}/webhooks", content=evil, headers=headers)

    def no_signature(c: httpx.Client) -> httpx.Response:
        return c.post(f"{url}/webhooks", content=body, headers={"Content-Type": "application/json"})

    def wrong_host(c: httpx.Client) -> httpx.Response:
        return c.post(
            f"{url}/webhooks", content=body, headers=signed(body, webhook_key, "http://other.example")
        )

    def chunked_oversize(c: httpx.Client) -> httpx.Response:
        big = b'{"Event":"order.completed","Pad":"' + b"x" * 5000 + b'"}'

        def gen():  # no Content-Length: the streamed size must be checked
            for i in range(0, len(big), 1000):
                yield big[i : i + 1000]

        return c.post(f"{url}/webhooks", content=gen(), headers=signed(big, webhook_key, url))

    big = json.dumps(payload(Pad="x" * 5000)).encode()
    cases = [
        ("tampered body", tampered, 401, "content_hash_mismatch"),
        ("tampered body and hash", tampered_hash_too, 401, "bad_signature"),
        ("wrong key", lambda c: post(c, url, body, wrong_key), 401, "bad_signature"),
        ("stale date", lambda c: post(c, url, body, webhook_key, date=now - timedelta(seconds=400)), 401, "stale_date"),
        ("future date", lambda c: post(c, url, body, webhook_key, date=now + timedelta(seconds=400)), 401, "future_date"),
        ("missing headers", no_signature, 401, "missing_header"),
        ("wrong host", wrong_host, 401, "bad_signature"),
        ("oversized", lambda c: post(c, url, big, webhook_key), 413, "content_length"),
        ("oversized chunked", chunked_oversize, 413, "body_size"),
        ("malformed json", lambda c: post(c, url, b'{"Event": "order.completed",', webhook_key), 400, "invalid_json"),
        ("not an object", lambda c: post(c, url, b"[1, 2]", webhook_key), 400, "unknown_shape"),
        ("unknown shape", lambda c: post(c, url, b'{"Hello": "world"}', webhook_key), 400, "unknown_shape"),
        ("bad timestamp", lambda c: post(c, url, json.dumps(payload() | {"TimeStamp": "x"}).encode(), webhook_key),
         400, "unknown_shape"),
    ]  # fmt: skip
    with httpx.Client() as c:
        for name, send, status, reason in cases:
            resp = send(c)
            assert resp.status_code == status, (name, resp.text)
            assert resp.json()["reason"] == reason, name
            assert store.count_events() == 0, name
        # replayed nonce: the identical signed request twice; the second stores nothing
        headers = signed(body, webhook_key, url)
        assert c.post(f"{url}/webhooks", content=body, headers=headers).status_code == 200
        replay = c.post(f"{url}/webhooks", content=body, headers=headers)
        assert replay.status_code == 401
        assert replay.json()["reason"] == "replayed_nonce"
        # replayed nonce on a *new* event: rejected, nothing stored
        other = json.dumps(payload(order="ord-2")).encode()
        nonce = headers["x-fc-nonce"]
        assert post(c, url, other, webhook_key, nonce=nonce).json()["reason"] == "replayed_nonce"
        unsupported = c.post(f"{url}/webhooks", content=body, headers={**signed(body, webhook_key, url),
                                                                       "Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
        assert unsupported.status_code == 415
    assert store.count_events() == 1
    assert store.order_state("ord-2") is None


async def _burst(base_url: str, key: str, bodies: list[bytes], concurrency: int = 16) -> list[int]:
    sem = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def one(body: bytes) -> int:
            async with sem:
                resp = await client.post(
                    f"{base_url}/webhooks", content=body, headers=signed(body, key, base_url)
                )
                return resp.status_code

        return await asyncio.gather(*(one(b) for b in bodies))


def make_burst(n_events: int = 1000, n_orders: int = 300, dup_ratio: float = 0.2, seed: int = 1):
    """``n_events`` distinct events over ``n_orders`` orders, plus duplicates, shuffled."""
    rng = random.Random(seed)
    t0 = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
    per_order: dict[str, list[dict]] = defaultdict(list)
    seen: set[tuple] = set()
    while sum(len(v) for v in per_order.values()) < n_events:
        order = f"ord-{rng.randrange(n_orders):04d}"
        ev = rng.choice(EVENTS)
        ts = t0 + timedelta(seconds=rng.randrange(3600), microseconds=rng.randrange(10**6))
        if (order, ev, ts) in seen:
            continue
        seen.add((order, ev, ts))
        per_order[order].append(payload(order, ev, ts))
    deliveries = [p for ps in per_order.values() for p in ps]
    deliveries += [dict(p, IsResent=True) for p in rng.sample(deliveries, int(len(deliveries) * dup_ratio))]
    rng.shuffle(deliveries)
    expected = {
        order: max(
            (FlexWebhookEvent.model_validate(p) for p in ps),
            key=lambda e: ({"REFUNDED": 2, "CHARGEBACK": 2}.get(e.status, 1), e.timestamp, e.status),
        ).status
        for order, ps in per_order.items()
    }
    return deliveries, expected


def test_burst_with_duplicates_and_reordering(receiver: Any, webhook_key: str):
    srv, store = receiver
    deliveries, expected = make_burst()
    bodies = [json.dumps(p).encode() for p in deliveries]
    statuses = asyncio.run(_burst(srv.base_url, webhook_key, bodies))
    assert set(statuses) == {200}
    assert store.count_events() == 1000
    states = store.order_states()
    assert {o: s["status"] for o, s in states.items()} == expected


def test_db_down_answers_503_then_recovers(webhook_pg_factory: Any, webhook_key: str, webhook_server: Any):
    import psycopg2

    from tests.fixtures.webhooks import PG_ADMIN_DSN

    db = webhook_pg_factory("down")
    srv = webhook_server(create_app(WebhookSettings(subscriber_keys=[webhook_key], db_url=db.url)))
    with httpx.Client(timeout=30) as c:
        assert post(c, srv.base_url, json.dumps(payload("a")).encode(), webhook_key).status_code == 200
        admin = psycopg2.connect(PG_ADMIN_DSN)
        admin.autocommit = True
        with admin.cursor() as cur:  # "stop" the database: kick every session and hide it under another name
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (db.name,)
            )
            cur.execute(f'ALTER DATABASE "{db.name}" RENAME TO "{db.name}_off"')
        try:
            down = post(c, srv.base_url, json.dumps(payload("b")).encode(), webhook_key)
            assert down.status_code == 503, down.text
            assert down.json()["reason"] == "store_unavailable"
            assert down.headers["retry-after"] == "5"
        finally:
            with admin.cursor() as cur:
                cur.execute(f'ALTER DATABASE "{db.name}_off" RENAME TO "{db.name}"')
            admin.close()
        assert post(c, srv.base_url, json.dumps(payload("b")).encode(), webhook_key).status_code == 200
    store = WebhookStore.from_url(db.url)
    assert store.count_events() == 2
    store.dispose()


def test_not_configured_answers_503_until_it_is(
    tmp_path: Any, webhook_key: str, webhook_server: Any, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(app_module, "_RETRY_BUILD_AFTER_S", 0.0)
    calls = {"n": 0}

    def settings() -> WebhookSettings:
        calls["n"] += 1
        if calls["n"] == 1:
            raise LookupError("connection flex_default is not defined")
        return WebhookSettings(subscriber_keys=[webhook_key], db_url=f"sqlite:///{tmp_path / 'late.db'}")

    srv = webhook_server(create_app(settings))
    body = json.dumps(payload()).encode()
    with httpx.Client() as c:
        first = post(c, srv.base_url, body, webhook_key)
        assert first.status_code == 503
        assert first.json()["reason"] == "not_configured"
        assert post(c, srv.base_url, body, webhook_key).status_code == 200


def test_optional_airflow_asset_event(tmp_path: Any, webhook_key: str, webhook_server: Any):
    from fastapi import FastAPI

    from flex_provider.webhooks.app import AirflowAssetNotify

    calls: list[tuple[str, Any]] = []
    fake_airflow = FastAPI()

    @fake_airflow.post("/auth/token", status_code=201)
    def token(body: dict) -> dict:
        calls.append(("token", body["username"]))
        return {"access_token": "tok"}

    @fake_airflow.get("/api/v2/assets")
    def assets(name_pattern: str) -> dict:
        return {"assets": [{"id": 7, "name": "flex_webhook_events"}, {"id": 8, "name": "other"}]}

    @fake_airflow.post("/api/v2/assets/events")
    def asset_event(body: dict) -> dict:
        calls.append(("event", body))
        return {}

    airflow = webhook_server(fake_airflow)
    notify = AirflowAssetNotify(
        api_url=airflow.base_url, asset_name="flex_webhook_events", username="admin", password="pw"
    )
    settings = WebhookSettings(
        subscriber_keys=[webhook_key], db_url=f"sqlite:///{tmp_path / 'n.db'}", asset_notify=notify
    )
    srv = webhook_server(create_app(settings))
    with httpx.Client() as c:
        assert post(c, srv.base_url, json.dumps(payload()).encode(), webhook_key).status_code == 200
    deadline = datetime.now() + timedelta(seconds=10)
    while not any(k == "event" for k, _ in calls) and datetime.now() < deadline:
        time.sleep(0.05)
    assert calls[0] == ("token", "admin")
    assert calls[1] == ("event", {"asset_id": 7, "extra": {"source": "flex-webhook", "last_event_id": 1}})
