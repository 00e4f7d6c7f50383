"""The Flex sandbox against a real subprocess (httpx): auth, endpoints, state machine, faults, restart."""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from flex_provider.sandbox.order_store import OrderEvent
from flex_provider.sandbox.state import SandboxState
from tests.fixtures.sandbox import SandboxProcess

APPROVE_CARD = "4000002760003184"
DECLINE_CARD = "4000300011112220"
TRACE_RE = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")
DAY = 86400.0


def _iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def tokenize(sb: SandboxProcess, pan: str) -> str:
    r = sb.api("POST", "/tokenize", token=None,
               params={"mid": sb.info["mid"], "environment": sb.info["tokenization_key"]},
               json={"payment_method": {"credit_card": {"first_name": "Ann", "last_name": "Lee", "number": pan,
                                                        "verification_value": "123", "month": "09",
                                                        "year": "2030"}}})
    assert r.status_code == 200, r.text
    return r.json()["transaction"]["payment_method"]["token"]


def evaluate_body(sb: SandboxProcess, order_id: str, card: str, *, days: float = 21, amount: int = 1999,
                  **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "isDeclined": True, "isMIT": True, "isRecurring": True, "mid": sb.info["mid"], "orderId": order_id,
        "idempotencyKey": str(uuid.uuid4()), "expiryDateUtc": _iso(sb.now() + timedelta(days=days)),
        "transaction": {"id": f"psp-{order_id}", "amount": amount, "currency": "USD",
                        "responseCode": "05", "responseStatus": "DECLINED"},
        "payer": {"id": "cust-1", "email": "payer@example.com"},
        "paymentMethod": {"cardNumber": card, "token": True, "cardBinNumber": "400000", "cardLast4Digits": "0000"},
    }
    body.update(extra)
    return body


def new_order(sb: SandboxProcess, card: str, *, days: float = 21, amount: int = 1999) -> tuple[str, dict[str, Any]]:
    body = evaluate_body(sb, f"ord-{uuid.uuid4().hex[:10]}", card, days=days, amount=amount)
    r = sb.api("POST", "/evaluate", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "SUBMITTED"
    return r.json()["orderSessionKey"], body


def get_order(sb: SandboxProcess, order_id: str) -> dict[str, Any]:
    r = sb.api("GET", f"/orders/{order_id}")
    assert r.status_code == 200, r.text
    return r.json()


def completed_order(sb: SandboxProcess, amount: int = 1000) -> str:
    """An order moved to Completed(7) by advancing the clock past its window."""
    order_id, _ = new_order(sb, tokenize(sb, APPROVE_CARD), days=1, amount=amount)
    sb.advance(DAY)
    assert get_order(sb, order_id)["status"] == 7
    return order_id


def events_for(sb: SandboxProcess, order_id: str) -> list[dict[str, Any]]:
    return [e for e in sb.admin("GET", "/events").json() if e["order_id"] == order_id]


# ----------------------------------------------------------------------------------------------- auth
def test_token_keys_case_insensitive_and_wrong_credentials_400(sandbox: SandboxProcess) -> None:
    r = httpx.post(sandbox.api_url + "/oauth2/token",
                   json={"appKey": sandbox.info["app_key"], "appsecret": sandbox.info["app_secret"]})
    assert r.status_code == 200
    body = r.json()
    assert body["accessToken"]
    assert body["refreshToken"]
    assert body["success"] is True
    assert set(body) >= {"expires", "id", "result", "status", "statusCode", "errors", "customProperties"}
    ttl_ms = body["expires"] - sandbox.now().timestamp() * 1000
    assert 590_000 < ttl_ms <= 600_000
    bad = httpx.post(sandbox.api_url + "/oauth2/token", json={"AppKey": sandbox.info["app_key"], "AppSecret": "x"})
    assert bad.status_code == 400


def test_requests_without_or_with_unknown_token_get_401(sandbox: SandboxProcess) -> None:
    assert sandbox.api("GET", "/orders", token=None).status_code == 401
    assert sandbox.api("GET", "/orders", token="not-a-token").status_code == 401
    assert sandbox.api("GET", "/orders").status_code == 200


def test_token_expires_after_ttl_on_sandbox_clock(sandbox: SandboxProcess) -> None:
    token = sandbox.token()
    sandbox.advance(590)
    assert sandbox.api("GET", "/orders", token=token).status_code == 200
    sandbox.advance(11)
    r = sandbox.api("GET", "/orders", token=token)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == "Bearer"


# ----------------------------------------------------------------------------------------------- tokenize
def test_tokenize_returns_token_and_keeps_only_bin_last4(sandbox: SandboxProcess) -> None:
    pan = "4111111111111111"
    r = sandbox.api("POST", "/tokenize", token=None,
                    params={"mid": sandbox.info["mid"], "environment": sandbox.info["tokenization_key"]},
                    json={"payment_method": {"credit_card": {"first_name": "A", "last_name": "B", "number": pan,
                                                             "month": "1", "year": "2031"}}})
    assert r.status_code == 200
    pm = r.json()["transaction"]["payment_method"]
    assert uuid.UUID(pm["token"])
    assert (pm["first_six_digits"], pm["last_four_digits"], pm["card_type"]) == ("411111", "1111", "visa")
    assert pan not in r.text
    data = b"".join(p.read_bytes() for p in Path(sandbox.data_dir).glob("sandbox.sqlite3*"))
    assert pan.encode() not in data
    wrong = sandbox.api("POST", "/tokenize", token=None, params={"mid": sandbox.info["mid"], "environment": "x"},
                        json={"payment_method": {}})
    assert wrong.status_code == 401


# ----------------------------------------------------------------------------------------------- evaluate
def test_evaluate_mit_answers_submitted_and_opens_processing_order(sandbox: SandboxProcess) -> None:
    order_id, body = new_order(sandbox, tokenize(sandbox, APPROVE_CARD))
    order = get_order(sandbox, order_id)
    assert order["status"] == 4
    assert order["statusName"] == "Processing"
    assert order["expiryDate"] == body["expiryDateUtc"]
    assert order["externalOrderId"] == body["orderId"]
    assert order["amount"] == 1999


def test_invalid_body_gets_aspnet_problem_details(sandbox: SandboxProcess) -> None:
    body = evaluate_body(sandbox, "o-invalid", "tok")
    del body["idempotencyKey"]
    del body["transaction"]["amount"]
    r = sandbox.api("POST", "/evaluate", json=body)
    assert r.status_code == 400
    problem = r.json()
    assert problem["status"] == 400
    assert problem["title"] == "One or more validation errors occurred."
    assert TRACE_RE.match(problem["traceId"])
    assert r.headers["traceId"] == problem["traceId"]
    assert problem["errors"] == {"IdempotencyKey": ["The IdempotencyKey field is required."],
                                 "Transaction.Amount": ["The Amount field is required."]}
    no_expiry = evaluate_body(sandbox, "o-noexp", "tok")
    del no_expiry["expiryDateUtc"]
    r = sandbox.api("POST", "/evaluate", json=no_expiry)
    assert r.status_code == 400
    assert "ExpiryDateUtc" in r.json()["errors"]
    r = sandbox.api("POST", "/evaluate", json=evaluate_body(sandbox, "o-amt", "tok", amount=5))
    assert r.status_code == 400
    assert "Transaction.Amount" in r.json()["errors"]
    r = sandbox.api("POST", "/evaluate", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert "$" in r.json()["errors"]


def test_idempotent_replay_and_409_on_different_body(sandbox: SandboxProcess) -> None:
    body = evaluate_body(sandbox, f"idem-{uuid.uuid4().hex[:8]}", tokenize(sandbox, APPROVE_CARD))
    first = sandbox.api("POST", "/evaluate", json=body)
    again = sandbox.api("POST", "/evaluate", json=body)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    orders = [o for o in sandbox.admin("GET", "/orders").json() if o["external_order_id"] == body["orderId"]]
    assert len(orders) == 1
    changed = {**body, "transaction": {**body["transaction"], "amount": 2999}}
    conflict = sandbox.api("POST", "/evaluate", json=changed)
    assert conflict.status_code == 409
    assert conflict.json()["status"] == 409
    assert TRACE_RE.match(conflict.json()["traceId"])


def _orders_of(sb: SandboxProcess, order_id: str) -> list[dict[str, Any]]:
    return [o for o in sb.admin("GET", "/orders").json() if o["external_order_id"] == order_id]


def test_default_mode_answers_a_new_key_for_an_open_order_with_that_order(sandbox: SandboxProcess) -> None:
    assert sandbox.admin("GET", "/idempotency").json() == {"strict": False}
    body = evaluate_body(sandbox, f"idem-{uuid.uuid4().hex[:8]}", tokenize(sandbox, APPROVE_CARD))
    first = sandbox.api("POST", "/evaluate", json=body).json()
    other_key = sandbox.api("POST", "/evaluate", json={**body, "idempotencyKey": str(uuid.uuid4())}).json()
    assert other_key["orderSessionKey"] == first["orderSessionKey"]
    assert len(_orders_of(sandbox, body["orderId"])) == 1


def test_strict_mode_only_the_idempotency_key_dedupes(sandbox: SandboxProcess) -> None:
    """A new key for the same orderId is a second order; same key + same body replays; another body: 409."""
    with sandbox.strict_idempotency():
        assert sandbox.admin("GET", "/idempotency").json() == {"strict": True}
        body = evaluate_body(sandbox, f"idem-{uuid.uuid4().hex[:8]}", tokenize(sandbox, APPROVE_CARD))
        first = sandbox.api("POST", "/evaluate", json=body)
        replay = sandbox.api("POST", "/evaluate", json=body)
        assert first.status_code == replay.status_code == 200
        assert replay.json() == first.json()
        assert len(_orders_of(sandbox, body["orderId"])) == 1
        changed = {**body, "transaction": {**body["transaction"], "amount": 2999}}
        assert sandbox.api("POST", "/evaluate", json=changed).status_code == 409
        new_key = str(uuid.uuid4())
        second = sandbox.api("POST", "/evaluate", json={**body, "idempotencyKey": new_key})
        assert second.status_code == 200, second.text
        assert second.json()["orderSessionKey"] != first.json()["orderSessionKey"]
        orders = _orders_of(sandbox, body["orderId"])
        assert sorted(o["idempotency_key"] for o in orders) == sorted([body["idempotencyKey"], new_key])
        transmit = {"isDeclined": False, "isMIT": True, "orderId": body["orderId"],
                    "transaction": {"id": "psp-t", "amount": 1999, "currency": "USD"},
                    "paymentMethod": {"cardBinNumber": "400000", "cardLast4Digits": "3184"}}
        keyed = {**transmit, "idempotencyKey": str(uuid.uuid4())}
        copies = [sandbox.api("POST", "/transmit", json=b).json()["transmitId"] for b in (keyed, keyed, transmit)]
        assert copies[0] == copies[1] != copies[2]  # the key replays; no key is another copy
    assert sandbox.admin("GET", "/idempotency").json() == {"strict": False}


def test_strict_idempotency_from_the_command_line(sandbox_factory) -> None:
    sb = sandbox_factory("--seed", "21", "--strict-idempotency")
    assert sb.info["strict_idempotency"] is True
    assert sb.admin("GET", "/idempotency").json() == {"strict": True}
    body = evaluate_body(sb, "idem-cli-1", tokenize(sb, APPROVE_CARD))
    keys = {sb.api("POST", "/evaluate", json={**body, "idempotencyKey": str(uuid.uuid4())}).json()["orderSessionKey"]
            for _ in range(2)}
    assert len(keys) == 2


def test_orders_complete_or_expire_after_clock_advance(sandbox: SandboxProcess) -> None:
    approved, _ = new_order(sandbox, tokenize(sandbox, APPROVE_CARD), days=21)
    expiring, exp_body = new_order(sandbox, tokenize(sandbox, DECLINE_CARD), days=21)
    placed = _parse(get_order(sandbox, approved)["orderPlacedDate"])
    sandbox.advance(21 * DAY - 60)
    done = get_order(sandbox, approved)
    assert done["status"] == 7
    assert done["statusName"] == "Completed"
    assert re.fullmatch(r"[0-9A-F]{8}", done["confirmationId"])
    fraction = (_parse(done["completedDate"]) - placed) / (_parse(done["expiryDate"]) - placed)
    assert 0.05 <= fraction <= 0.9
    assert get_order(sandbox, expiring)["status"] == 4  # still inside its window
    sandbox.advance(120)
    expired = get_order(sandbox, expiring)
    assert (expired["status"], expired["statusName"]) == (8, "Expired")
    assert [e["event"] for e in events_for(sandbox, approved)] == ["order.completed"]
    assert [(e["event"], e["status"], e["timestamp"]) for e in events_for(sandbox, expiring)] == [
        ("order.expired", "EXPIRED", exp_body["expiryDateUtc"])]


def test_transmit_answers_transmit_id(sandbox: SandboxProcess) -> None:
    body = {"isDeclined": False, "isMIT": True, "orderId": "tx-1", "sequenceNumber": "1",
            "transaction": {"id": "psp-1", "amount": 1999, "currency": "USD", "responseStatus": "APPROVED"},
            "paymentMethod": {"cardBinNumber": "400000", "cardLast4Digits": "3184"}}
    r = sandbox.api("POST", "/transmit", json=body)
    assert r.status_code == 200
    assert r.json()["success"] is True
    assert uuid.UUID(r.json()["transmitId"])
    assert sandbox.api("POST", "/transmit", json=body).json()["transmitId"] == r.json()["transmitId"]
    bad = sandbox.api("POST", "/transmit", json={"orderId": "tx-2"})
    assert bad.status_code == 400
    assert "Transaction" in bad.json()["errors"]


# ----------------------------------------------------------------------------------------------- refund / cancel / capture
def test_refund_limits_partial_cap_and_full_refund(sandbox: SandboxProcess) -> None:
    order_id = completed_order(sandbox, amount=1000)

    def refund(amount: float, **extra: Any) -> dict[str, Any]:
        r = sandbox.api("POST", f"/orders/{order_id}/refund", json={"amountToRefund": amount, **extra})
        assert r.status_code == 200, r.text
        return r.json()

    too_much = refund(10.01)
    assert (too_much["success"], too_much["status"], too_much["responseCode"]) == (False, "FAILED", "2001")
    assert too_much["responseMessage"] == "Amount to refund (10.01) is greater than maximum refund amount in (10.00))"
    assert refund(7.00)["responseCode"] == "2003"  # a 70 % partial refund is above the 60 % cap
    assert refund(3.00)["status"] == "SUCCESS"
    assert refund(3.00)["status"] == "SUCCESS"
    assert refund(0.01)["responseCode"] == "2003"  # 60 % reached
    order = get_order(sandbox, order_id)
    assert (order["status"], order["refundedAmount"]) == (7, 600)

    full_id = completed_order(sandbox, amount=1000)
    ok = sandbox.api("POST", f"/orders/{full_id}/refund", json={"amountToRefund": 10.00, "refundMessage": "bye"})
    assert ok.json()["status"] == "SUCCESS"
    assert ok.json()["success"] is True
    assert get_order(sandbox, full_id)["statusName"] == "Returned"
    assert events_for(sandbox, full_id)[-1]["event"] == "order.refunded"
    again = sandbox.api("POST", f"/orders/{full_id}/refund", json={"amountToRefund": 0.01}).json()
    assert again["responseCode"] == "2001"
    assert "(0.00))" in again["responseMessage"]

    processing, _ = new_order(sandbox, tokenize(sandbox, DECLINE_CARD))
    early = sandbox.api("POST", f"/orders/{processing}/refund", json={"amountToRefund": 1.00}).json()
    assert early["responseCode"] == "2002"
    missing = sandbox.api("POST", f"/orders/{processing}/refund", json={})
    assert missing.status_code == 400
    assert "AmountToRefund" in missing.json()["errors"]


@pytest.mark.parametrize(
    ("currency", "refund", "minor"),
    [("JPY", 100, 100), ("KWD", 1.5, 1500), ("USD", 1.5, 150), ("BHD", "0.125", 125), ("CLP", "250", 250)],
)
def test_refund_amounts_become_minor_units_by_the_currency_exponent(
    sandbox: SandboxProcess, currency: str, refund: Any, minor: int
) -> None:
    """ISO 4217 exponents (JPY 0, USD 2, KWD/BHD 3): a partial refund of 100 yen is 100 minor units, not 10000."""
    body = evaluate_body(sandbox, f"ord-{uuid.uuid4().hex[:10]}", tokenize(sandbox, APPROVE_CARD), days=1,
                         amount=19999)
    body["transaction"]["currency"] = currency
    r = sandbox.api("POST", "/evaluate", json=body)
    assert r.status_code == 200, r.text
    order_id = r.json()["orderSessionKey"]
    sandbox.advance(DAY)
    ok = sandbox.api("POST", f"/orders/{order_id}/refund", json={"amountToRefund": refund}).json()
    assert (ok["status"], ok["responseCode"]) == ("SUCCESS", "00"), ok
    order = get_order(sandbox, order_id)
    assert (order["currencyCode"], order["amount"], order["refundedAmount"]) == (currency, 19999, minor)
    assert [e["amount"] for e in events_for(sandbox, order_id) if e["event"] == "order.refunded"] == [minor]


@pytest.mark.parametrize(("currency", "refund"), [("JPY", "100.5"), ("KWD", "1.2345"), ("USD", "0.001")])
def test_refund_with_more_decimals_than_the_currency_has_is_refused(
    sandbox: SandboxProcess, currency: str, refund: str
) -> None:
    body = evaluate_body(sandbox, f"ord-{uuid.uuid4().hex[:10]}", tokenize(sandbox, APPROVE_CARD), days=1,
                         amount=19999)
    body["transaction"]["currency"] = currency
    order_id = sandbox.api("POST", "/evaluate", json=body).json()["orderSessionKey"]
    sandbox.advance(DAY)
    r = sandbox.api("POST", f"/orders/{order_id}/refund", json={"amountToRefund": refund})
    assert r.status_code == 400, r.text
    assert "AmountToRefund" in r.json()["errors"]
    assert get_order(sandbox, order_id)["refundedAmount"] == 0


def test_cancel_rules_and_external_cancel(sandbox: SandboxProcess) -> None:
    card = tokenize(sandbox, DECLINE_CARD)
    order_id, _ = new_order(sandbox, card)
    r = sandbox.api("POST", f"/orders/{order_id}/cancel", json={})
    assert (r.status_code, r.json()) == (200, {})
    assert get_order(sandbox, order_id)["statusName"] == "Cancelled"
    assert sandbox.api("POST", f"/orders/{order_id}/cancel").json() == {}  # no body, already cancelled
    assert [e["event"] for e in events_for(sandbox, order_id)] == ["order.cancelled"]

    done = completed_order(sandbox)
    refused = sandbox.api("POST", f"/orders/{done}/cancel", json={}).json()
    assert (refused["success"], refused["status"], refused["responseCode"]) == (False, "FAILED", "3001")

    ext_id, ext_body = new_order(sandbox, card)
    key = str(uuid.uuid4())
    r = sandbox.api("POST", f"/orders/{ext_body['orderId']}/external-cancel", json={"idempotencyKey": key})
    assert (r.status_code, r.json()) == (200, {})
    assert get_order(sandbox, ext_id)["status"] == 2
    other, _ = new_order(sandbox, card)
    reused = sandbox.api("POST", f"/orders/{other}/cancel", json={"idempotencyKey": key})
    assert reused.status_code == 409
    assert sandbox.api("POST", "/orders/no-such-order/cancel", json={}).status_code == 404


def test_capture_moves_capturerequired_to_completed(sandbox: SandboxProcess) -> None:
    body = evaluate_body(sandbox, f"cit-{uuid.uuid4().hex[:8]}", tokenize(sandbox, APPROVE_CARD),
                         isMIT=False, transactionType="AUTHORIZATION")
    del body["expiryDateUtc"]
    r = sandbox.api("POST", "/evaluate", json=body)
    assert r.json()["status"] == "CAPTUREREQUIRED"
    order_id = r.json()["orderSessionKey"]
    assert get_order(sandbox, order_id)["status"] == 5
    capture = {"idempotencyKey": str(uuid.uuid4()), "orderId": order_id, "amount": 1999, "currency": "USD"}
    ok = sandbox.api("POST", "/capture", json=capture).json()
    assert ok["captureStatus"] == "SUCCESS"
    assert get_order(sandbox, order_id)["statusName"] == "Completed"
    assert sandbox.api("POST", "/capture", json=capture).json() == ok  # replay
    second = sandbox.api("POST", "/capture", json={**capture, "idempotencyKey": str(uuid.uuid4())}).json()
    assert second["captureStatus"] == "FAILED"
    assert sandbox.api("POST", "/capture", json={"orderId": order_id}).status_code == 400


# ----------------------------------------------------------------------------------------------- listing
def test_orders_paging_and_filters(sandbox: SandboxProcess) -> None:
    card = tokenize(sandbox, DECLINE_CARD)
    sandbox.advance(60)  # earlier tests' orders fall before the window
    start = sandbox.now()
    ids = [new_order(sandbox, card)[0] for _ in range(12)]
    sandbox.api("POST", f"/orders/{ids[0]}/cancel", json={})
    window = {"from": start.isoformat(), "to": sandbox.now().isoformat()}
    seen: list[str] = []
    for page in (1, 2, 3):
        body = sandbox.api("GET", "/orders", params={**window, "pageSize": 5, "pageNumber": page}).json()
        assert (body["pageNumber"], body["pageSize"], body["pageCount"], body["totalItemCount"]) == (page, 5, 3, 12)
        assert body["hasPreviousPage"] is (page > 1)
        assert body["hasNextPage"] is (page < 3)
        assert body["isFirstPage"] is (page == 1)
        assert body["isLastPage"] is (page == 3)
        assert body["firstItemOnPage"] == (page - 1) * 5 + 1
        assert body["lastItemOnPage"] == min(page * 5, 12)
        assert body["statuses"]["8"] == "Expired"
        assert body["statuses"]["4"] == "Processing"
        seen += [o["id"] for o in body["items"]]
    assert seen == ids
    default = sandbox.api("GET", "/orders", params=window).json()
    assert default["pageSize"] == 10
    assert len(default["items"]) == 10
    cancelled = sandbox.api("GET", "/orders", params=[*window.items(), ("status", "2"), ("status", "7")]).json()
    assert [o["id"] for o in cancelled["items"]] == [ids[0]]
    bad = sandbox.api("GET", "/orders", params={"pageSize": 0, "status": "x"})
    assert bad.status_code == 400
    assert set(bad.json()["errors"]) == {"PageSize", "Status"}
    assert sandbox.api("GET", f"/orders/{uuid.uuid4()}").status_code == 404


# ----------------------------------------------------------------------------------------------- faults
def test_fault_knobs_and_request_counts(sandbox: SandboxProcess) -> None:
    token = sandbox.token()
    before = sandbox.admin("GET", "/requests").json().get("GET /v1/orders/{id}", 0)
    path = f"/orders/{uuid.uuid4()}"
    assert sandbox.admin("POST", "/faults", {"rate_limit_next": 2, "retry_after": 3}).status_code == 200
    for _ in range(2):
        r = sandbox.api("GET", path, token=token)
        assert r.status_code == 429
        assert r.headers["Retry-After"] == "3"
    assert sandbox.api("GET", path, token=token).status_code == 404
    sandbox.admin("POST", "/faults", {"fail_next_5xx": 1})
    assert sandbox.api("GET", path, token=token).status_code == 500
    sandbox.admin("POST", "/faults", {"error_ratio_5xx": 1.0, "latency_ms": 300})
    t0 = time.monotonic()
    assert sandbox.api("GET", path, token=token).status_code == 500
    assert time.monotonic() - t0 >= 0.3
    reset = sandbox.admin("POST", "/faults/reset").json()
    assert reset["error_ratio_5xx"] == 0
    assert reset["latency_ms"] == 0
    assert sandbox.api("GET", path, token=token).status_code == 404
    after = sandbox.admin("GET", "/requests").json()["GET /v1/orders/{id}"]
    assert after - before == 6  # faulted requests count too
    assert sandbox.admin("POST", "/faults", {"no_such_knob": 1}).status_code in (400, 422)


def test_drop_response_after_commit_then_retry_creates_no_duplicate(sandbox: SandboxProcess) -> None:
    body = evaluate_body(sandbox, f"drop-{uuid.uuid4().hex[:8]}", tokenize(sandbox, APPROVE_CARD))
    token = sandbox.token()  # before the fault: the token call would consume it
    sandbox.admin("POST", "/faults", {"drop_response_after_commit_next": 1})
    dropped = sandbox.api("POST", "/evaluate", json=body, token=token)
    assert dropped.status_code == 503
    retry = sandbox.api("POST", "/evaluate", json=body, token=token)
    assert retry.status_code == 200
    assert retry.json()["status"] == "SUBMITTED"
    orders = [o for o in sandbox.admin("GET", "/orders").json() if o["external_order_id"] == body["orderId"]]
    assert len(orders) == 1
    assert orders[0]["id"] == retry.json()["orderSessionKey"]


# ----------------------------------------------------------------------------------------------- process-level
def test_sandbox_json_openapi_and_quiet_logs(sandbox: SandboxProcess) -> None:
    info = sandbox.info
    assert info["api_url"].endswith("/v1")
    assert info["sftp_port"] > 0
    assert Path(info["sftp_client_key"]).exists()
    assert Path(info["sftp_client_key"] + ".pub").exists()
    assert info["sftp_host_key"].startswith("ssh-ed25519 AAAA")
    flex = json.loads(info["airflow_connections"]["flex_default"])
    assert flex["host"] == info["api_url"]
    assert flex["extra"]["mid"] == info["mid"]
    sftp = json.loads(info["airflow_connections"]["flex_sftp_default"])
    assert sftp["port"] == info["sftp_port"]
    assert sftp["extra"]["host_key"] == info["sftp_host_key"]
    doc = httpx.get(info["api_url"][: -len("/v1")] + "/openapi.json").json()
    assert doc["info"]["title"] == "Flex sandbox"
    assert {"/v1/evaluate", "/v1/orders/{id}/refund", "/v1/oauth2/token"} <= set(doc["paths"])
    assert "EvaluateRequest" in doc["components"]["schemas"]
    token = sandbox.token()
    sandbox.api("GET", "/orders", token=token)
    log = sandbox.log_path.read_text()
    assert "GET /v1/orders -> 200" in log
    for secret in (token, info["app_secret"], info["tokenization_key"], APPROVE_CARD):
        assert secret not in log


def test_flex_conn_env_points_airflow_at_sandbox(flex_conn_env: SandboxProcess) -> None:
    import os

    conn = json.loads(os.environ["AIRFLOW_CONN_FLEX_DEFAULT"])
    assert conn["conn_type"] == "flex"
    assert conn["login"] == flex_conn_env.info["app_key"]
    assert json.loads(os.environ["AIRFLOW_CONN_FLEX_SFTP_DEFAULT"])["login"] == "merchant"


def test_restart_keeps_state_and_clock_speed(sandbox_factory: Any) -> None:
    sb = sandbox_factory("--clock-speed", "100")
    t0 = sb.now()
    time.sleep(0.5)
    assert (sb.now() - t0).total_seconds() >= 40  # 100x real time
    body = evaluate_body(sb, "restart-1", tokenize(sb, DECLINE_CARD), days=30)
    first = sb.api("POST", "/evaluate", json=body).json()
    sb.advance(DAY)
    sb.admin("POST", "/clock", {"speed": 1})  # the restart itself must not age the token by 100x
    token = sb.token()
    info = sb.info
    before = sb.now()
    sb.restart()
    assert sb.now() >= before + timedelta(days=0)
    assert (sb.info["mid"], sb.info["app_secret"], sb.info["sftp_host_key"]) == (
        info["mid"], info["app_secret"], info["sftp_host_key"])
    assert sb.api("GET", "/orders", token=token).status_code == 200  # token survived
    assert sb.api("POST", "/evaluate", json=body, token=token).json() == first  # idempotency key survived
    assert get_order(sb, first["orderSessionKey"])["statusName"] == "Processing"
    assert len(sb.admin("GET", "/orders").json()) == 1
    assert sb.stop() == 0  # clean exit on SIGTERM
    assert not (sb.data_dir / "sandbox.json").exists()


def _run_seeded(sb: SandboxProcess, n: int) -> list[tuple[str, int, str | None, float]]:
    out = []
    ids = []
    for i in range(n):
        body = evaluate_body(sb, f"det-{i}", str(uuid.uuid4()), days=20)  # tokens the sandbox never issued
        ids.append(sb.api("POST", "/evaluate", json=body).json()["orderSessionKey"])
    sb.advance(21 * DAY)
    for oid in ids:
        o = get_order(sb, oid)
        placed, expiry = _parse(o["orderPlacedDate"]), _parse(o["expiryDate"])
        frac = ((_parse(o["completedDate"]) - placed) / (expiry - placed)) if o["completedDate"] else 1.0
        out.append((o["externalOrderId"], o["status"], o["confirmationId"], round(frac, 2)))
    return out


def test_outcomes_are_deterministic_for_a_seed(sandbox_factory: Any, tmp_path: Path) -> None:
    a = _run_seeded(sandbox_factory("--seed", "7", "--approve-rate", "0.5"), 8)
    b = _run_seeded(sandbox_factory("--seed", "7", "--approve-rate", "0.5"), 8)
    assert a == b
    ref = SandboxState(tmp_path, seed=7, approve_rate=0.5)
    mid = ref.merchant.mid
    expected = [7 if ref.outcome_for(mid, f"det-{i}")[0] else 8 for i in range(8)]
    assert [row[1] for row in a] == expected
    assert {7, 8} <= set(expected)
    for (_, status, _, frac), i in zip(a, range(8)):
        if status == 7:
            assert frac == pytest.approx(ref.outcome_for(mid, f"det-{i}")[1], abs=0.01)
    ref.close()


# ----------------------------------------------------------------------------------------------- in-process API
def test_state_python_api_for_batches_and_webhooks(tmp_path: Path) -> None:
    state = SandboxState(tmp_path, seed=3, clock_speed=0)
    seen: list[OrderEvent] = []
    state.add_listener(seen.append)
    status, tok = state.issue_token({"appKey": state.merchant.app_key, "appSecret": state.merchant.app_secret})
    assert status == 200
    assert state.mid_for_token("Bearer " + tok["accessToken"]) == state.merchant.mid
    assert state.mid_for_token("nope") is None
    row = {"isDeclined": True, "isMIT": True, "orderId": "b-1", "idempotencyKey": str(uuid.uuid4()),
           "sequenceNumber": "1", "expiryDateUtc": _iso(state.clock.now() + timedelta(days=14)),
           "transaction": {"id": "t", "amount": 5, "currency": "USD"},  # amount rule not applied to batches
           "paymentMethod": {"cardNumber": "unknown-token", "token": True}}
    status, body = state.evaluate(state.merchant.mid, row, source="sftp")
    assert status == 200
    assert body["status"] == "SUBMITTED"
    assert state.evaluate(state.merchant.mid, {**row, "sequenceNumber": "9"}, source="sftp") == (status, body)
    assert state.transmit(state.merchant.mid, {"isDeclined": False, "isMIT": True, "orderId": "b-2",
                                               "transaction": {"id": "t2", "amount": 5, "currency": "USD"}})[0] == 200
    assert state.settle_due() == []
    assert seen == []
    state.clock.advance(15 * DAY)
    assert state.mid_for_token(tok["accessToken"]) is None
    events = state.settle_due()
    assert events == seen
    assert len(events) == 1
    ev = events[0]
    assert (ev.order_id, ev.external_order_id, ev.mid, ev.amount, ev.currency) == (
        body["orderSessionKey"], "b-1", state.merchant.mid, 5, "USD")
    assert (ev.event, ev.status) in {("order.completed", "APPROVED"), ("order.expired", "EXPIRED")}
    assert ev.timestamp.tzinfo is not None
    state.close()
