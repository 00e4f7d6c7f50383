"""Fault 4: webhooks duplicated, reordered, replayed and tampered: the stored state only moves forward."""

from __future__ import annotations

import json
import time

import httpx

from flex_provider.models.webhooks import STATUS_RANK
from flex_provider.webhooks.app import WebhookSettings, create_app
from flex_provider.webhooks.signature import sign_request
from flex_provider.webhooks.store import WebhookStore
from tests.faults.invariants import check_invariants


def test_duplicated_reordered_replayed_tampered_webhooks(make_world, webhook_server) -> None:
    world = make_world()
    key = world.sandbox.info["webhook_subscriber_key"]
    app = create_app(WebhookSettings(subscriber_keys=[key], db_url=world.ledger_url))
    srv = webhook_server(app)
    url = f"{srv.base_url}/webhooks"
    sb = world.sandbox
    sb.admin("POST", "/webhooks/target", {"url": url})
    sb.admin("POST", "/webhooks/faults", {"duplicate_ratio": 0.5, "reorder": True, "delay_ms": 50})
    try:
        day = world.business_day()
        world.add_declines(day, 20)
        world.ship_day(day)
        world.settle()
        deadline = time.monotonic() + 30
        while sb.admin("GET", "/webhooks/outbox").json()["pending"]:
            assert time.monotonic() < deadline, str(
                sb.admin("GET", "/webhooks/outbox").json()["last_errors"]
            )[:1500]
            time.sleep(0.1)
    finally:
        sb.admin("POST", "/webhooks/target", {"url": None})
    store = WebhookStore.from_url(world.ledger_url)
    states = store.order_states()
    ours = {
        s["external_order_id"]: s for s in states.values() if f"-{world.tag}-" in str(s["external_order_id"])
    }
    assert len(ours) == 20
    events = [
        e for e in store.events_after(0, limit=10_000) if f"-{world.tag}-" in str(e["external_order_id"])
    ]
    assert len(events) == 20, "a duplicate was stored twice"

    # replay an accepted delivery (same nonce) and a tampered one; then a late backwards event
    sample = events[0]
    body = sample["payload"].encode()
    host = f"127.0.0.1:{srv.port}"
    headers = sign_request(body, key, host)
    with httpx.Client() as client:
        first = client.post(url, content=body, headers={**headers, "content-type": "application/json"})
        assert first.status_code == 200 and first.json()["duplicate"] is True  # noqa: PT018
        replay = client.post(url, content=body, headers={**headers, "content-type": "application/json"})
        assert replay.status_code == 401 and replay.json()["reason"] == "replayed_nonce"  # noqa: PT018
        tampered = json.loads(body)
        tampered["Event"], tampered["Status"] = "order.expired", "EXPIRED"
        tampered["TimeStamp"] = "2099-01-01T00:00:00Z"
        raw = json.dumps(tampered).encode()
        bad = client.post(
            url, content=raw, headers={**sign_request(body, key, host), "content-type": "application/json"}
        )
        assert bad.status_code == 401 and bad.json()["reason"] == "content_hash_mismatch"  # noqa: PT018
        forged = client.post(url, content=raw, headers={**sign_request(raw, "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=", host),
                                                       "content-type": "application/json"})  # fmt: skip
        assert forged.status_code == 401 and forged.json()["reason"] == "bad_signature"  # noqa: PT018
        # a genuine but older, lower-ranked event arriving late must not move the state back
        approved = next((s for s in ours.values() if s["status"] == "APPROVED"), None)
        if approved is not None:
            late = json.loads(body)
            late.update({"Event": "order.expired", "OrderId": approved["order_id"],
                         "ExternalOrderId": approved["external_order_id"], "Status": "EXPIRED",
                         "ConfirmationId": None, "TimeStamp": "2020-01-01T00:00:00Z"})  # fmt: skip
            raw = json.dumps(late).encode()
            ok = client.post(
                url, content=raw, headers={**sign_request(raw, key, host), "content-type": "application/json"}
            )
            assert ok.status_code == 200
    after = store.order_states()
    for order_id, state in states.items():
        assert STATUS_RANK[after[order_id]["status"]] >= STATUS_RANK[state["status"]]
        if state["status"] == "APPROVED":
            assert after[order_id]["status"] == "APPROVED", "state moved backwards"
    store.dispose()
    world.process_results()
    world.reconcile()
    counts = check_invariants(world, final=True)
    assert counts["approved"] + counts["expired"] == 20
