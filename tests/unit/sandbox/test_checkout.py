"""``flex_provider.sandbox.checkout``: the demo merchant backend stores the Flex token and sense key, never a PAN.

``checkout.mount`` on a bare FastAPI app with a real ``MerchantStore`` on a SQLite merchant DB in a tmp dir
and a real ``SandboxState``; called in-process with ``TestClient``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from flex_provider.sandbox import checkout
from flex_provider.sandbox.state import SandboxState

CARD = {"token": "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d", "senseKey": "5f6e7d8c-aaaa-4bbb-8ccc-123456789abc",
        "cardBin": "400000", "cardLast4": "3184", "expMonth": 12, "expYear": 2030, "cardBrand": "visa",
        "firstName": "Ann", "lastName": "Lee", "email": "ann@example.com"}


@pytest.fixture
def env(tmp_path: Path):
    state = SandboxState(tmp_path / "state", seed=14, clock_speed=0)
    url = f"sqlite:///{tmp_path / 'merchant.db'}"
    store = checkout.MerchantStore(url)
    app = FastAPI()
    checkout.mount(app, state, store)
    with TestClient(app) as client:
        yield state, client, create_engine(url)
    store.close()
    state.close()


def rows(engine, sql: str) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text(sql))]


def test_a_card_is_stored_with_its_token_and_sense_key_and_a_new_subscription(env) -> None:
    _, client, engine = env
    body = client.post(checkout.CARDS_PATH, json=CARD).json()
    assert body["stored"] is True
    [card] = rows(engine, "SELECT * FROM card_tokens")
    assert (card["flex_token"], card["sense_key"], card["card_bin"], card["card_last4"], card["card_brand"],
            card["holder_name"]) == (CARD["token"], CARD["senseKey"], "400000", "3184", "VISA", "Ann Lee")
    [sub] = rows(engine, "SELECT * FROM subscriptions")
    assert (sub["subscription_id"], sub["card_token_id"], sub["price_cents"], sub["status"]) == (
        body["subscriptionId"], body["cardTokenId"], 1999, "active")


def test_a_new_card_for_an_existing_subscription_re_points_it(env) -> None:
    _, client, engine = env
    first = client.post(checkout.CARDS_PATH, json={**CARD, "subscriptionId": "sub-keep"}).json()
    second = client.post(checkout.CARDS_PATH, json={**CARD, "subscriptionId": "sub-keep", "cardLast4": "0000"}).json()
    assert first["customerId"] == second["customerId"]
    assert rows(engine, "SELECT card_token_id FROM subscriptions") == [{"card_token_id": second["cardTokenId"]}]
    assert len(rows(engine, "SELECT id FROM card_tokens")) == 2


def test_a_card_number_is_refused_and_reaches_no_table(env, tmp_path: Path) -> None:
    _, client, engine = env
    assert client.post(checkout.CARDS_PATH, json=CARD).status_code == 200
    r = client.post(checkout.CARDS_PATH, json={**CARD, "firstName": "4000 0027 6000 3184"})
    assert r.status_code == 422
    assert len(rows(engine, "SELECT * FROM card_tokens")) == 1
    engine.dispose()
    stored = (tmp_path / "merchant.db").read_bytes()
    assert b"4000002760003184" not in stored
    assert b"4000 0027 6000 3184" not in stored


def test_without_a_merchant_db_nothing_is_stored(tmp_path: Path) -> None:
    state = SandboxState(tmp_path, seed=14, clock_speed=0)
    app = FastAPI()
    checkout.mount(app, state, None)
    with TestClient(app) as client:
        assert client.post(checkout.CARDS_PATH, json=CARD).json() == {
            "stored": False, "cardTokenId": None, "subscriptionId": None, "customerId": None,
            "message": checkout.NOT_CONFIGURED}
    state.close()


def test_the_page_carries_the_tokenization_key_never_the_api_secret_and_a_nonce_csp(env) -> None:
    state, client, _ = env
    r = client.get(checkout.PAGE_PATH)
    nonce = re.search(r"'nonce-([^']+)'", r.headers["content-security-policy"]).group(1)
    assert f'nonce="{nonce}"' in r.text
    assert state.merchant.tokenization_key in r.text
    assert state.merchant.app_secret not in r.text
    config = json.loads(re.search(r"({\"mid\".*?})\s*[;<]", r.text).group(1))
    assert config["tokenizeUrl"] == "http://testserver/v1/tokenize"
    assert config["merchantStores"] is True
