"""``flex_provider.models.api.transactions``: /evaluate and /transmit bodies, camelCase, tokens only."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from flex_provider.models.api import EvaluateRequest, PaymentMethod, TransmitRequest

ROW = {"orderId": "sub-1", "idempotencyKey": "k-1", "isMIT": True, "expiryDateUtc": "2030-01-21T00:00:00Z",
       "transaction": {"id": "t-1", "amount": 1299, "currency": "USD"},
       "paymentMethod": {"cardNumber": "7d9f2c1e-4b5a-4c3d-8e9f-101112131415", "token": True}}  # fmt: skip


def test_evaluate_round_trips_camel_case_without_nulls() -> None:
    req = EvaluateRequest.model_validate(ROW)
    assert (req.order_id, req.is_mit, req.transaction.amount, req.is_declined) == ("sub-1", True, 1299, True)
    assert req.to_wire() == {**ROW, "isDeclined": True, "expiryDateUtc": "2030-01-21T00:00:00Z"}


@pytest.mark.parametrize(
    "bad",
    [
        {**ROW, "orderID": "typo"},  # an unknown field is refused, not dropped
        {**ROW, "isDeclined": False},  # only declines are evaluated
        {**ROW, "transaction": {"id": "t-1", "amount": -1, "currency": "USD"}},
        {**ROW, "transaction": {"id": "t-1", "amount": 5, "currency": "US"}},
        {**ROW, "orderId": ""},
    ],
)
def test_evaluate_refuses(bad: dict) -> None:
    with pytest.raises(ValidationError):
        EvaluateRequest.model_validate(bad)


def test_a_card_number_is_refused_a_token_is_not() -> None:
    with pytest.raises(ValidationError, match="pan_detected"):
        PaymentMethod(card_number="4111 1111 1111 1111", token=True)
    assert PaymentMethod(card_number="tok_4111", token=True).card_number == "tok_4111"
    with pytest.raises(ValidationError):
        PaymentMethod(card_last4_digits="41x1")


def test_transmit_is_an_approved_transaction_with_an_optional_key() -> None:
    body = {"orderId": "o-1", "transaction": {"id": "t", "amount": 0, "currency": "JPY"}}
    req = TransmitRequest.model_validate(body)
    assert (req.is_declined, req.idempotency_key) == (False, None)
    assert req.to_wire() == {**body, "isDeclined": False}
