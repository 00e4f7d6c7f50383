"""``flex_provider.sandbox.admin``: the ``/_sandbox`` routes move the clock, set faults, switch idempotency modes.

The router is mounted on a bare FastAPI app around a real ``SandboxState`` (SQLite in a tmp dir) and
called in-process with Starlette's ``TestClient``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from flex_provider.sandbox.admin import admin_router
from flex_provider.sandbox.faults import Faults
from flex_provider.sandbox.state import SandboxState
from tests.unit.sandbox.support import DAY, mit_row


@pytest.fixture
def env(tmp_path: Path):
    state = SandboxState(tmp_path, seed=2, clock_speed=0, approve_rate=1.0)
    faults, requests = Faults(), Counter({"GET /v1/orders": 3})
    app = FastAPI()
    app.include_router(admin_router(state, faults, requests), prefix="/_sandbox")
    with TestClient(app) as client:
        yield state, faults, requests, client
    state.close()


def test_advancing_the_clock_settles_what_fell_due(env) -> None:
    state, _, _, client = env
    order = state.evaluate(state.merchant.mid, mit_row(state, "sub-1"))[1]["orderSessionKey"]
    assert client.post("/_sandbox/clock", json={"advance_seconds": DAY}).json()["events"] == []
    body = client.post("/_sandbox/clock", json={"advance_seconds": 15 * DAY}).json()
    assert [(e["event"], e["order_id"], e["external_order_id"]) for e in body["events"]] == [
        ("order.completed", order, "sub-1")]
    assert body["offset_seconds"] == pytest.approx(16 * DAY)
    assert client.post("/_sandbox/clock", json={"advance_seconds": -1}).status_code == 422


def test_only_the_given_fault_knobs_change_and_unknown_ones_are_refused(env) -> None:
    _, faults, _, client = env
    faults.latency_ms = 50
    assert client.post("/_sandbox/faults", json={"fail_next_5xx": 2}).json()["latency_ms"] == 50
    assert faults.fail_next_5xx == 2
    assert client.post("/_sandbox/faults", json={"no_such_knob": 1}).status_code == 422
    assert client.post("/_sandbox/faults/reset").json()["fail_next_5xx"] == 0


def test_strict_idempotency_switch_and_request_counts(env) -> None:
    state, _, requests, client = env
    assert client.post("/_sandbox/idempotency", json={"strict": True}).json() == {"strict": True}
    assert state.strict_idempotency is True
    assert client.get("/_sandbox/requests").json() == {"GET /v1/orders": 3}
    client.delete("/_sandbox/requests")
    assert not requests


def test_an_unknown_card_token_is_a_404_problem(env) -> None:
    _, _, _, client = env
    r = client.get("/_sandbox/cards/no-such-token")
    assert (r.status_code, r.json()["title"]) == (404, "Not Found")
