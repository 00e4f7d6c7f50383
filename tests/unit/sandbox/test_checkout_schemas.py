"""``flex_provider.sandbox.checkout_schemas``: the demo merchant API is strict and takes no card number anywhere."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from flex_provider.sandbox.checkout_schemas import CheckoutCardRequest

CARD = {"token": "tok_12345678", "cardBin": "400000", "cardLast4": "3184", "expMonth": 1, "expYear": 2031}


def test_a_minimal_card_gets_the_demo_plan() -> None:
    card = CheckoutCardRequest.model_validate(CARD)
    assert (card.plan_code, card.price_cents, card.currency, card.sense_key) == ("plus-monthly", 1999, "USD", None)


@pytest.mark.parametrize("field", ["token", "holderName", "email", "subscriptionId"])
def test_a_card_number_in_any_field_is_refused(field: str) -> None:
    with pytest.raises(ValidationError, match="looks like a card number"):
        CheckoutCardRequest.model_validate({**CARD, field: "4111-1111-1111-1111"})


@pytest.mark.parametrize("change", [{"cardNumber": "x"}, {"cardLast4": "31845"}, {"expMonth": 13}, {"token": "short"}])
def test_unknown_keys_and_malformed_values_are_refused(change: dict) -> None:
    with pytest.raises(ValidationError):
        CheckoutCardRequest.model_validate({**CARD, **change})
