"""FlexApiHook and FlexApiAsyncHook against the sandbox running as a real server on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import socket
import time
import uuid
from decimal import Decimal

import pytest

from flex_provider.exceptions import (
    FlexAuthError,
    FlexBusinessError,
    FlexConflictError,
    FlexConnectionError,
    FlexNotFoundError,
    FlexRateLimitError,
    FlexServerError,
    FlexValidationError,
)
from flex_provider.hooks.api import TOKEN_CACHE, FlexApiAsyncHook, FlexApiHook
from flex_provider.idempotency import idempotency_key
from flex_provider.models.api import OrderStatus

APPROVING_CARD = "4000002760003184"
CVV = "737"


#: Rescue window end for new orders; set from the sandbox clock before each test (the clock only moves on).
EXPIRY = {"value": "2030-01-21T00:00:00Z"}
#: Sandbox seconds that take every order of a test past its window.
PAST_WINDOW = 3600 * 24 * 30


def evaluate_body(mid: str, order_id: str | None = None, *, token: str = "tok_demo") -> dict:
    order_id = order_id or f"sub-{uuid.uuid4().hex[:10]}"
    return {
        "mid": mid,
        "orderId": order_id,
        "idempotencyKey": idempotency_key(mid, order_id, "evaluate"),
        "isMIT": True,
        "isRecurring": True,
        "expiryDateUtc": EXPIRY["value"],
        "transaction": {
            "id": f"psp-{order_id}",
            "amount": 1999,
            "currency": "USD",
            "timestampUtc": "2026-11-24T06:00:00Z",
            "responseCode": "05",
            "responseStatus": "DECLINED",
        },
        "payer": {"id": "cust-1", "email": "payer@example.com"},
        "paymentMethod": {
            "cardNumber": token,
            "token": True,
            "cardBinNumber": "400000",
            "cardLast4Digits": "3184",
        },
        "subscription": {"subscriptionId": "s-1", "interval": "monthly", "price": 1999, "currency": "USD"},
    }


def approving_token(hook: FlexApiHook) -> str:
    """Tokenize Flex's whitelisted test card that the sandbox always rescues."""
    card = {"first_name": "Ann", "last_name": "Lee", "number": APPROVING_CARD, "month": "09", "year": "2030"}
    return hook.tokenize({"payment_method": {"credit_card": card}}).token


@pytest.fixture
def hook(sandbox, flex_conn_env):
    TOKEN_CACHE._tokens.clear()
    sandbox.admin("POST", "/faults/reset")
    h = FlexApiHook("flex_default", backoff_initial=0.05, backoff_max=0.2)
    yield h
    h.close()
    sandbox.admin("POST", "/faults/reset")


def request_count(sandbox, key: str) -> int:
    return int(sandbox.admin("GET", "/requests").json().get(key, 0))


def test_token_is_reused_across_calls_and_hooks(hook, sandbox):
    before = request_count(sandbox, "POST /v1/oauth2/token")
    mid = hook.settings.mid
    hook.evaluate(evaluate_body(mid))
    hook.evaluate(evaluate_body(mid))
    with FlexApiHook("flex_default") as other:
        other.get_order(hook.evaluate(evaluate_body(mid)).order_session_key)
    assert request_count(sandbox, "POST /v1/oauth2/token") - before == 1


def test_force_refresh_fetches_a_new_token_and_caches_it(hook, sandbox):
    first = hook.get_token()
    before = request_count(sandbox, "POST /v1/oauth2/token")
    fresh = hook.get_token(force_refresh=True)
    assert request_count(sandbox, "POST /v1/oauth2/token") - before == 1
    assert fresh != first
    assert hook.get_token() == fresh  # the new one is what the cache serves next


def test_expired_token_is_fetched_again_once_on_401(hook, sandbox):
    mid = hook.settings.mid
    hook.evaluate(evaluate_body(mid))
    tokens_before = request_count(sandbox, "POST /v1/oauth2/token")
    sandbox.admin("POST", "/clock", {"advance_seconds": 700})  # past the 600 s token TTL on the sandbox clock
    response = hook.evaluate(evaluate_body(mid))
    assert response.status == "SUBMITTED"
    assert request_count(sandbox, "POST /v1/oauth2/token") - tokens_before == 1


def test_every_endpoint_round_trip(hook, sandbox):
    mid = hook.settings.mid
    card = {
        "credit_card": {
            "first_name": "Ann",
            "last_name": "Lee",
            "number": APPROVING_CARD,
            "verification_value": CVV,
            "month": "09",
            "year": "2030",
        }
    }
    token = hook.tokenize({"payment_method": card}).token
    assert token
    assert APPROVING_CARD not in token

    transmit = {k: v for k, v in evaluate_body(mid).items() if k not in ("expiryDateUtc", "idempotencyKey")}
    transmit["isDeclined"] = False
    assert hook.transmit(transmit).transmit_id

    evaluated = hook.evaluate(evaluate_body(mid, token=token))
    assert evaluated.status == "SUBMITTED"
    order = hook.get_order(evaluated.order_session_key)
    assert order.order_status == OrderStatus.PROCESSING

    to_cancel = hook.evaluate(evaluate_body(mid)).order_session_key
    hook.cancel(to_cancel, idempotency_key=idempotency_key(mid, to_cancel, "cancel"))
    assert hook.get_order(to_cancel).order_status == OrderStatus.CANCELLED

    external = evaluate_body(mid)
    hook.evaluate(external)
    hook.external_cancel(external["orderId"])

    # The approving test card is rescued inside the window: move the sandbox clock past the expiry.
    sandbox.admin("POST", "/clock", {"advance_seconds": PAST_WINDOW})
    sandbox.admin("POST", "/settle")
    approved = hook.get_order(evaluated.order_session_key)
    assert approved.order_status == OrderStatus.COMPLETED
    refund = hook.refund(approved.id, Decimal("5.00"), message="goodwill")
    assert refund.status in ("SUCCESS", "Success", "success")

    listed = list(hook.list_orders(page_size=2))
    ids = {o.id for o in listed}
    assert {evaluated.order_session_key, to_cancel} <= ids
    assert len(listed) == len(ids) >= 4


def test_list_orders_walks_every_page(hook):
    mid = hook.settings.mid
    created = {hook.evaluate(evaluate_body(mid)).order_session_key for _ in range(5)}
    listed = [o.id for o in hook.list_orders(page_size=2)]
    assert created <= set(listed)
    assert len(listed) == len(set(listed))


def test_validation_error_carries_field_errors(hook):
    body = evaluate_body(hook.settings.mid)
    del body["expiryDateUtc"]  # required for managed MIT
    with pytest.raises(FlexValidationError) as err:
        hook.evaluate(body)
    assert err.value.status == 400
    assert "ExpiryDateUtc" in err.value.field_errors
    assert err.value.trace_id


def test_unknown_order_is_not_found(hook):
    with pytest.raises(FlexNotFoundError):
        hook.get_order(str(uuid.uuid4()))


def test_same_key_other_body_is_a_conflict_and_not_retried(hook, sandbox):
    body = evaluate_body(hook.settings.mid)
    hook.evaluate(body)
    changed = dict(body, transaction=dict(body["transaction"], amount=2999))
    before = request_count(sandbox, "POST /v1/evaluate")
    with pytest.raises(FlexConflictError):
        hook.evaluate(changed)
    assert request_count(sandbox, "POST /v1/evaluate") - before == 1


def test_wrong_secret_is_an_auth_error(sandbox, flex_conn_env, monkeypatch):
    conn = json.loads(sandbox.info["airflow_connections"]["flex_default"])
    conn["password"] = "wrong-secret"
    monkeypatch.setenv("AIRFLOW_CONN_FLEX_BAD", json.dumps(conn))
    with pytest.raises(FlexAuthError), FlexApiHook("flex_bad") as bad:
        bad.get_token()
    ok, message = FlexApiHook("flex_bad").test_connection()
    assert not ok
    assert "wrong-secret" not in message


def test_test_connection_succeeds(hook):
    ok, message = hook.test_connection()
    assert ok, message


def test_rate_limit_retry_after_is_honoured(hook, sandbox):
    mid = hook.settings.mid
    hook.get_token()
    sandbox.admin("POST", "/faults", {"rate_limit_next": 1, "retry_after": 1})
    before = request_count(sandbox, "POST /v1/evaluate")
    started = time.monotonic()
    assert hook.evaluate(evaluate_body(mid)).status == "SUBMITTED"
    assert time.monotonic() - started >= 0.95
    assert request_count(sandbox, "POST /v1/evaluate") - before == 2


def test_rate_limit_surfaces_when_retries_run_out(sandbox, flex_conn_env):
    sandbox.admin("POST", "/faults/reset")
    with FlexApiHook("flex_default", max_retries=0) as h:
        h.get_token()
        sandbox.admin("POST", "/faults", {"rate_limit_next": 1, "retry_after": 7})
        with pytest.raises(FlexRateLimitError) as err:
            h.evaluate(evaluate_body(h.settings.mid))
    assert err.value.retry_after == 7


def test_5xx_is_retried_then_surfaces(hook, sandbox):
    mid = hook.settings.mid
    hook.get_token()
    sandbox.admin("POST", "/faults", {"fail_next_5xx": 2})
    assert hook.evaluate(evaluate_body(mid)).status == "SUBMITTED"
    with FlexApiHook("flex_default", max_retries=0) as h:
        sandbox.admin("POST", "/faults", {"fail_next_5xx": 1})
        with pytest.raises(FlexServerError):
            h.evaluate(evaluate_body(mid))


def test_lost_answer_is_retried_with_same_key_and_creates_one_order(hook, sandbox):
    body = evaluate_body(hook.settings.mid)
    hook.get_token()
    sandbox.admin("POST", "/faults", {"drop_response_after_commit_next": 1})
    first = hook.evaluate(body)
    # A second run (an Airflow retry or a backfill) derives the same key and gets the same order back.
    again = hook.evaluate(evaluate_body(hook.settings.mid, body["orderId"]))
    assert again.order_session_key == first.order_session_key
    orders = sandbox.admin("GET", "/orders").json()
    items = orders["items"] if isinstance(orders, dict) else orders
    same = [o for o in items if o.get("externalOrderId", o.get("external_order_id")) == body["orderId"]]
    assert len(same) == 1


def test_connection_refused_is_a_connection_error(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conn = {"conn_type": "flex", "host": f"http://127.0.0.1:{port}/v1", "login": "k", "password": "s"}
    monkeypatch.setenv("AIRFLOW_CONN_FLEX_DOWN", json.dumps(conn))
    with (
        FlexApiHook("flex_down", max_retries=2, backoff_initial=0.01, backoff_max=0.02) as h,
        pytest.raises(FlexConnectionError),
    ):
        h.get_token()


def test_refund_above_refundable_is_a_business_error(hook, sandbox):
    mid = hook.settings.mid
    key = hook.evaluate(evaluate_body(mid, token=approving_token(hook))).order_session_key
    sandbox.admin("POST", "/clock", {"advance_seconds": PAST_WINDOW})
    assert hook.get_order(key).order_status == OrderStatus.COMPLETED
    with pytest.raises(FlexBusinessError) as err:
        hook.refund(key, Decimal("999999.00"))
    assert err.value.code == "2001"


def test_no_secret_token_or_card_in_logs(hook, sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    mid = hook.settings.mid
    card = {
        "credit_card": {
            "first_name": "A",
            "last_name": "B",
            "number": APPROVING_CARD,
            "verification_value": CVV,
            "month": "01",
            "year": "2031",
        }
    }
    hook.tokenize({"payment_method": card})
    bearer = hook.get_token()
    hook.evaluate(evaluate_body(mid))
    sandbox.admin("POST", "/faults", {"fail_next_5xx": 1})
    hook.evaluate(evaluate_body(mid))  # a retry logs a warning
    text = caplog.text
    assert caplog.records, "expected the hook to log something"
    for secret in (hook.settings.app_secret, bearer, APPROVING_CARD, f'"{CVV}"'):
        assert secret not in text


@pytest.mark.asyncio
async def test_async_hook_shares_errors_and_calls(sandbox, flex_conn_env):
    TOKEN_CACHE._tokens.clear()
    async with FlexApiAsyncHook("flex_default", backoff_initial=0.05, backoff_max=0.1) as h:
        settings = await h.get_settings()
        created = await h.evaluate(evaluate_body(settings.mid))
        order = await h.get_order(created.order_session_key)
        assert order.id == created.order_session_key
        with pytest.raises(FlexNotFoundError):
            await h.get_order(str(uuid.uuid4()))
        listed = [o.id async for o in h.list_orders(page_size=3)]
        assert created.order_session_key in listed


def test_capture_completes_an_authorized_order(hook):
    """A CIT authorization on an approving card waits in CAPTUREREQUIRED until /capture."""
    mid = hook.settings.mid
    body = evaluate_body(mid, token=approving_token(hook))
    body.update(isMIT=False, isRecurring=False, transactionType="AUTHORIZATION")
    body.pop("expiryDateUtc")
    evaluated = hook.evaluate(body)
    assert evaluated.status == "CAPTUREREQUIRED"
    key = idempotency_key(mid, evaluated.order_session_key, "capture")
    hook.capture(evaluated.order_session_key, 1999, "USD", idempotency_key=key)
    assert hook.get_order(evaluated.order_session_key).order_status == OrderStatus.COMPLETED


def test_sandbox_publishes_its_openapi_document(sandbox):
    spec = sandbox.http.get(sandbox.info["admin_url"].replace("/_sandbox", "/openapi.json")).json()
    assert spec["info"]["title"] == "Flex sandbox"
    paths = set(spec["paths"])
    assert {"/v1/oauth2/token", "/v1/evaluate", "/v1/transmit", "/v1/tokenize"} <= paths
    assert any(p.startswith("/v1/orders/") and p.endswith("/refund") for p in paths)
