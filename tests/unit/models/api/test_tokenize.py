"""``flex_provider.models.api.tokenize``: the card is a secret everywhere but the /tokenize request body."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from flex_provider.models.api import CreditCard, TokenizePaymentMethod, TokenizeRequest

PAN = "4000002760003184"


def _request() -> TokenizeRequest:
    card = CreditCard(first_name="Ann", last_name="Lee", number=PAN, verification_value="737", month="01",
                      year="2030")
    return TokenizeRequest(payment_method=TokenizePaymentMethod(email="a@example.org", credit_card=card))


def test_the_card_never_prints_and_is_revealed_only_on_the_wire() -> None:
    req = _request()
    assert PAN not in repr(req)
    assert PAN not in str(req)
    assert "737" not in repr(req)
    assert PAN not in str(req.model_dump())  # the python dump keeps SecretStr
    card = req.to_wire()["payment_method"]["credit_card"]
    assert (card["number"], card["verification_value"], card["month"]) == (PAN, "737", "01")


@pytest.mark.parametrize(("field", "value"), [("month", "13"), ("month", "1"), ("year", "30"), ("cvc", "1")])
def test_bad_card_fields_are_refused(field: str, value: str) -> None:
    card = {"first_name": "A", "last_name": "B", "number": PAN, "month": "01", "year": "2030", field: value}
    with pytest.raises(ValidationError):
        CreditCard.model_validate(card)
