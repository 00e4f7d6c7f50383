"""``flex_provider.sandbox.sense``: ``/sense/collect`` keeps a page's device signals under a new sense key and
refuses anything that could carry card data.

``sense.mount`` on a bare FastAPI app around a real ``SandboxState`` and ``SenseStore`` (SQLite in a tmp dir),
called in-process with ``TestClient``.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from flex_provider.sandbox import sense
from flex_provider.sandbox.sense_schemas import SenseCollectRequest
from flex_provider.sandbox.state import SandboxState


def payload(mid: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "mid": mid, "timezone": "Europe/Berlin", "timezoneOffset": -60,
        "screen": {"width": 1920, "height": 1080, "colorDepth": 24, "pixelRatio": 2},
        "userAgent": "Mozilla/5.0 (X11; Linux x86_64) unit", "language": "de-DE",
        "page": "https://shop.example.com/checkout?order=123#pay", "timing": {"loadMs": 310, "widgetMs": 280},
    }
    body.update(overrides)
    return body


@pytest.fixture
def env(tmp_path: Path):
    state = SandboxState(tmp_path, seed=13, clock_speed=0)
    store = sense.SenseStore(tmp_path / "sense.sqlite3", state.clock)
    app = FastAPI()
    sense.mount(app, state, store)
    with TestClient(app) as client:
        yield state, store, client
    store.close()
    state.close()


def test_a_page_s_signals_are_kept_under_a_new_sense_key(env) -> None:
    state, store, client = env
    r = client.post(sense.COLLECT_PATH, json=payload(state.merchant.mid.upper()))
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "*"
    key = r.json()["senseKey"]
    assert str(uuid.UUID(key)) == key
    session = client.get(f"/_sandbox/sense/{key}").json()
    assert session["mid"] == state.merchant.mid
    assert session["signals"]["page"] == "https://shop.example.com/checkout"  # never the query
    assert session["signals"]["screen"]["width"] == 1920
    again = client.post(sense.COLLECT_PATH, json=payload(state.merchant.mid)).json()["senseKey"]
    assert again != key
    assert [s["fingerprint"] for s in store.all()] == [session["fingerprint"]] * 2  # the same device


def test_a_card_number_anywhere_in_the_payload_is_refused_and_not_stored(env) -> None:
    state, store, client = env
    r = client.post(sense.COLLECT_PATH, json=payload(state.merchant.mid, language="4000 0027 6000 3184"))
    assert r.status_code == 400
    assert r.json()["errors"] == {"$": ["The payload looks like it carries a card number."]}
    assert "4000 0027 6000 3184" not in r.text  # never echoed (a trace id is hex: it cannot hold this)
    assert store.all() == []


def test_unknown_merchants_bad_bodies_and_oversized_payloads_are_400(env) -> None:
    state, store, client = env
    assert client.post(sense.COLLECT_PATH, json=payload("other-mid")).json()["errors"] == {"Mid": ["Unknown MID."]}
    wrong_site = payload(state.merchant.mid, siteId="other-site")
    assert client.post(sense.COLLECT_PATH, json=wrong_site).json()["errors"] == {
        "SiteId": ["Unknown site for this MID."]}
    missing = client.post(sense.COLLECT_PATH, json={"mid": state.merchant.mid}).json()["errors"]
    assert missing["Timing"] == ["The Timing field is required."]
    big = client.post(sense.COLLECT_PATH, json=payload(state.merchant.mid, pad="x" * sense.MAX_PAYLOAD_BYTES))
    assert big.status_code == 400
    assert "exceeds" in big.text
    assert client.get("/_sandbox/sense/no-such-key").status_code == 404
    assert store.all() == []


def test_the_fingerprint_follows_the_device_not_the_page() -> None:
    base = SenseCollectRequest.model_validate(payload("m"))
    other_page = SenseCollectRequest.model_validate(payload("m", page="https://shop.example.com/other"))
    other_screen = SenseCollectRequest.model_validate(payload("m", screen={"width": 1280, "height": 720}))
    assert sense.fingerprint(base) == sense.fingerprint(other_page)
    assert sense.fingerprint(base) != sense.fingerprint(other_screen)
    assert len(sense.fingerprint(base)) == 32


def test_the_widget_is_served_as_javascript(env) -> None:
    _, _, client = env
    r = client.get(sense.WIDGET_PATH)
    assert r.headers["content-type"] == sense.JS_MEDIA_TYPE
    assert "fc" in r.text
    assert sense.COLLECT_PATH in r.text
