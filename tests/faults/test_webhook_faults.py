"""Fault 4: webhooks duplicated, reordered, replayed and tampered: the stored state only moves forward."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from sqlalchemy import select, update

from flex_provider.merchant.schema import card_tokens, orders
from flex_provider.models.webhooks import STATUS_RANK
from flex_provider.sandbox.signing import WebhookSigner
from flex_provider.webhooks.app import WebhookSettings, create_app
from flex_provider.webhooks.store import WebhookStore
from tests.faults.invariants import check_invariants


def _pay_with_the_approving_test_card(world: Any, order_id: str) -> None:
    """Give the card on file of ``order_id`` the token of Flex's test card the sandbox always rescues."""
    card = {"first_name": "Ann", "last_name": "Lee", "number": "4000002760003184", "month": "09", "year": "2030"}
    r = world.sandbox.api("POST", "/tokenize", json={"payment_method": {"credit_card": card}})
    r.raise_for_status()
    token = r.json()["transaction"]["payment_method"]["token"]
    with world.merchant.begin() as conn:
        card_id = conn.execute(select(orders.c.card_token_id).where(orders.c.order_id == order_id)).scalar_one()
        conn.execute(update(card_tokens).where(card_tokens.c.id == card_id).values(flex_token=token))


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
        made = world.add_declines(day, 20)
        rescued = made[0]
        _pay_with_the_approving_test_card(world, rescued)  # so an APPROVED order surely exists below
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
    headers = WebhookSigner(key).headers(body, host)
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
            url, content=raw, headers={**WebhookSigner(key).headers(body, host), "content-type": "application/json"}
        )
        assert bad.status_code == 401 and bad.json()["reason"] == "content_hash_mismatch"  # noqa: PT018
        forged = client.post(url, content=raw, headers={**WebhookSigner("QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=").headers(raw, host),
                                                       "content-type": "application/json"})  # fmt: skip
        assert forged.status_code == 401 and forged.json()["reason"] == "bad_signature"  # noqa: PT018
        # a genuine but older, lower-ranked event arriving late must not move the state back
        approved = ours[rescued]
        assert approved["status"] == "APPROVED", approved
        late = json.loads(body)
        late.update({"Event": "order.expired", "OrderId": approved["order_id"],
                     "ExternalOrderId": approved["external_order_id"], "Status": "EXPIRED",
                     "ConfirmationId": None, "TimeStamp": "2020-01-01T00:00:00Z"})  # fmt: skip
        raw = json.dumps(late).encode()
        ok = client.post(
            url, content=raw, headers={**WebhookSigner(key).headers(raw, host), "content-type": "application/json"}
        )
        assert ok.status_code == 200
    after = store.order_states()
    assert after[approved["order_id"]]["status"] == "APPROVED", "a late older EXPIRED moved APPROVED back"
    for order_id, state in states.items():
        assert STATUS_RANK[after[order_id]["status"]] >= STATUS_RANK[state["status"]]
        if state["status"] == "APPROVED":
            assert after[order_id]["status"] == "APPROVED", "state moved backwards"
    store.dispose()
    world.process_results()
    world.reconcile()
    counts = check_invariants(world, final=True)
    assert counts["approved"] + counts["expired"] == 20
