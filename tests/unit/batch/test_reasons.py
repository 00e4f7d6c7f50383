"""Reject reasons (flex_provider.batch.reasons): the one documented list, one reason per business problem."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import ValidationError

from flex_provider.batch.columns import layout
from flex_provider.batch.reasons import REASONS, field_reason, model_error_reason
from flex_provider.models.api import EvaluateRequest

DOC = (Path(__file__).resolve().parents[3] / "docs" / "batch-files.md").read_text()


def test_the_reasons_are_the_documented_table() -> None:
    section = DOC.split("| reason | the business problem |", 1)[1].split("\n\n", 1)[0]
    table = re.findall(r"^\| `([^`]+)`(?: / `([^`]+)`)? \|", section, flags=re.MULTILINE)
    documented = [r for pair in table for r in pair if r]
    assert documented == list(REASONS)


def test_money_and_currency_problems_have_one_reason_each() -> None:
    for problem in ("type", "range", "too_short", "too_long", "pattern"):
        assert field_reason("amount_cents", problem) == "invalid_amount"
        assert field_reason("subscription_price_cents", problem) == "invalid_amount"
        assert field_reason("currency", problem) == "invalid_currency"
        assert field_reason("subscription_currency", problem) == "invalid_currency"
    assert field_reason("currency", "missing") == "missing:currency"  # not given is not invalid
    assert field_reason("exp_month", "range") == "invalid:exp_month"
    assert field_reason("card_last4", "pattern") == "invalid:card_last4"
    assert field_reason("billing_country_code", "too_long") == "too_long:billing_country_code"
    # the reason names the column as the extract named it, not its canonical name
    assert field_reason("declined_at", "type") == "invalid:declined_at"


def _errors(body: dict) -> list[dict]:
    try:
        EvaluateRequest.model_validate(body)
    except ValidationError as exc:
        return exc.errors()
    raise AssertionError("the body validated")


def test_model_errors_are_named_as_the_column_checks_name_them() -> None:
    lay = layout("evaluate")
    body = {"orderId": "o1", "idempotencyKey": "6f1c2d3e-4a5b-4c6d-8e7f-8091a2b3c4d5", "mid": "m", "isDeclined": True, "paymentMethod": {"cardNumber": "tok", "expirationMonth": 13},
            "transaction": {"id": "t1", "amount": -1999, "currency": "US"}}  # fmt: skip
    reasons = sorted(model_error_reason(lay, e)[1] for e in _errors(body))
    assert reasons == ["invalid:exp_month", "invalid_amount", "invalid_currency"]
    body["paymentMethod"]["expirationMonth"] = 9
    del body["transaction"]  # the whole object missing names its first required column
    assert [model_error_reason(lay, e)[1] for e in _errors(body)] == ["missing:transaction_id"]
