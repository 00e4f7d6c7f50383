"""``flex_provider.sandbox.schemas``: bodies read like ASP.NET reads them; errors come as its field map."""

from __future__ import annotations

from flex_provider.sandbox.schemas import EvaluateRequest, RefundRequest, TokenRequest, parse


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
