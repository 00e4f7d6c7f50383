"""``flex_provider.sandbox.schemas``: bodies read like ASP.NET reads them; errors answer in its problem shape."""

from __future__ import annotations

import re

from flex_provider.sandbox.schemas import EvaluateRequest, RefundRequest, TokenRequest, parse, problem


def test_keys_match_ignoring_case_and_underscores() -> None:
    req, errors = parse(TokenRequest, {"APPKEY": "k", "app_secret": "s"})
    assert errors is None
    assert (req.app_key, req.app_secret) == ("k", "s")


def test_validation_errors_use_pascal_case_paths_and_asp_net_messages() -> None:
    body = {"orderId": "o", "isDeclined": True, "idempotencyKey": "k",
            "transaction": {"id": "t", "amount": "lots", "currency": "US1"}, "additionalFields": [{"key": "a"}, "not an object"]}
    _, errors = parse(EvaluateRequest, body)
    assert errors["Transaction.Amount"] == ["The field Amount is invalid."]
    assert errors["Transaction.Currency"] == ["The field Currency is invalid."]
    assert errors["AdditionalFields[1]"] == ["The field AdditionalFields is invalid."]  # the path has the index, the message the name
    assert errors["IsMIT"] == ["The IsMIT field is required."]
    assert errors["PaymentMethod"] == ["The PaymentMethod field is required."]
    assert parse(RefundRequest, {})[1] == {"AmountToRefund": ["The AmountToRefund field is required."]}
    assert parse(TokenRequest, [1])[1] == {"$": ["The request body must be a JSON object."]}


def test_problem_details_shape() -> None:
    body = problem(400, {"OrderId": ["The OrderId field is required."]})
    assert (body["title"], body["status"], body["type"]) == (
        "One or more validation errors occurred.", 400, "https://tools.ietf.org/html/rfc9110#section-15.5")
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", body["traceId"])
    gone = problem(503, detail="down", trace_id="t")
    assert gone == {"type": "https://tools.ietf.org/html/rfc9110#section-15.6", "title": "Service Unavailable",
                    "status": 503, "detail": "down", "traceId": "t"}
