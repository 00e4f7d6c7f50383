"""``flex_provider.exceptions``: an error says what Flex answered, and survives pickling (task -> triggerer, XCom)."""

from __future__ import annotations

import pickle

from flex_provider.exceptions import FlexError, FlexRateLimitError, FlexValidationError


def test_str_carries_status_code_trace_and_sorted_field_errors() -> None:
    err = FlexValidationError("Flex evaluate failed: bad", status=400, code="E12", trace_id="00-ab-01",
                              field_errors={"orderId": ["required"], "amount": ["must be", ">= 0"]})
    assert str(err) == ("Flex evaluate failed: bad | status=400 | code=E12 | trace_id=00-ab-01 | "
                        "fields: amount: must be >= 0; orderId: required")
    assert str(FlexError("no answer")) == "no answer"


def test_a_pickled_error_keeps_its_type_and_every_field() -> None:
    err = FlexRateLimitError("slow down", status=429, retry_after=7.5, trace_id="t", body={"x": 1})
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is FlexRateLimitError
    assert (back.message, back.status, back.retry_after, back.trace_id, back.body, back.field_errors) == (
        "slow down", 429, 7.5, "t", {"x": 1}, {})
    assert str(back) == str(err)
