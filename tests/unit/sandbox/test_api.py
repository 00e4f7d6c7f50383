"""``flex_provider.sandbox.api``: what Flex's ``/v1`` refuses and accepts, trace ids, fault injection, counts.

``create_app`` around a real ``SandboxState`` (SQLite in a tmp dir), called in-process with ``TestClient``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from flex_provider.sandbox.api import create_app
from flex_provider.sandbox.state import SandboxState
from tests.unit.sandbox.support import bearer, mit_row


@pytest.fixture
def env(tmp_path: Path):
    state = SandboxState(tmp_path, seed=4, clock_speed=0)
    app = create_app(state)
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {bearer(state)}"
        yield state, app, client
    state.close()


def test_v1_needs_a_valid_bearer_token(env) -> None:
    _state, _, client = env
    for auth in ("", "Bearer not-a-token"):
        r = client.get("/v1/orders", headers={"Authorization": auth})
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"] == "Bearer"
        assert r.json()["traceId"] == r.headers["traceId"]
    assert client.get("/v1/orders").status_code == 200


def test_the_token_endpoint_takes_the_app_key_and_secret(env) -> None:
    state, _, client = env
    m = state.merchant
    ok = client.post("/v1/oauth2/token", json={"appkey": m.app_key, "APPSECRET": m.app_secret}, headers={})
    assert ok.status_code == 200
    assert ok.json()["accessToken"]
    wrong = client.post("/v1/oauth2/token", json={"AppKey": m.app_key, "AppSecret": "nope"}, headers={})
    assert wrong.status_code == 400


def test_unparseable_or_empty_bodies_are_400_problems_with_the_header_trace_id(env) -> None:
    _, _, client = env
    bad = client.post("/v1/evaluate", content=b"{not json", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400
    assert bad.json()["errors"] == {"$": ["The JSON value could not be parsed."]}
    assert bad.json()["traceId"] == bad.headers["traceId"]
    empty = client.post("/v1/evaluate", content=b"  ")
    assert empty.json()["errors"] == {"$": ["A non-empty request body is required."]}
    cancel = client.post("/v1/orders/no-such-order/cancel")  # cancel takes no body: not a 400
    assert cancel.status_code == 404


def test_an_evaluate_opens_an_order_that_get_and_outcome_find(env) -> None:
    state, _, client = env
    r = client.post("/v1/evaluate", json=mit_row(state, "sub-9", amount=1250))
    assert r.status_code == 200, r.text
    key = r.json()["orderSessionKey"]
    order = client.get(f"/v1/orders/{key}").json()
    assert (order["externalOrderId"], order["amount"], order["statusName"]) == ("sub-9", 1250, "Processing")
    outcome = client.post("/v1/outcome", json={"ORDERSESSIONKEY": key}).json()
    assert (outcome["orderSessionKey"], outcome["status"]) == (key, "PROCESSING")
    assert client.post("/v1/outcome", json={}).json()["errors"] == {
        "OrderSessionKey": ["The OrderSessionKey field is required."]}


def test_a_rate_limit_fault_answers_429_before_the_request_runs_and_counts_by_route(env) -> None:
    state, app, client = env
    app.state.faults.rate_limit_next, app.state.faults.retry_after = 1, 3
    limited = client.post("/v1/evaluate", json=mit_row(state, "sub-rl"))
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "3")
    assert state.raw_orders() == []  # nothing was carried out
    client.get("/v1/orders/abc")
    client.get("/v1/orders/def")
    assert app.state.requests == {"POST /v1/evaluate": 1, "GET /v1/orders/{id}": 2}


def test_a_dropped_answer_is_lost_after_the_order_is_committed_and_a_refusal_is_not_dropped(env) -> None:
    state, app, client = env
    app.state.faults.drop_response_after_commit_next = 1
    refused = client.post("/v1/evaluate", json={"orderId": "x"})
    assert refused.status_code == 400  # nothing changed, so nothing to lose: the knob stays armed
    lost = client.post("/v1/evaluate", json=mit_row(state, "sub-drop"))
    assert lost.status_code == 503
    assert [o["external_order_id"] for o in state.raw_orders()] == ["sub-drop"]
    assert app.state.faults.drop_response_after_commit_next == 0


def test_a_page_tokenizes_with_the_tokenization_key_and_a_wrong_key_is_401(env) -> None:
    state, _, client = env
    m = state.merchant
    card = {"payment_method": {"credit_card": {"first_name": "Ann", "last_name": "Lee", "number": "4000002760003184",
                                               "month": "12", "year": "2030"}}}
    page = {"Authorization": ""}  # a browser has no bearer token
    ok = client.post("/v1/tokenize", params={"mid": m.mid.upper(), "environment": m.tokenization_key},
                     json=card, headers=page)
    assert ok.status_code == 200, ok.text
    assert "4000002760003184" not in ok.text
    wrong = client.post("/v1/tokenize", params={"mid": m.mid, "environment": "guess"}, json=card, headers=page)
    assert wrong.status_code == 401
    other_mid = client.post("/v1/tokenize", params={"mid": "other", "environment": m.tokenization_key},
                            json=card, headers=page)
    assert other_mid.status_code == 401
