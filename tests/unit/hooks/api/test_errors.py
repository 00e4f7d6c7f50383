"""``flex_provider.hooks.api.errors``: each HTTP answer becomes the typed ``FlexError`` it means."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest

from flex_provider.exceptions import (
    FlexAuthError,
    FlexBusinessError,
    FlexConflictError,
    FlexConnectionError,
    FlexError,
    FlexNotFoundError,
    FlexRateLimitError,
    FlexServerError,
    FlexValidationError,
)
from flex_provider.hooks.api.call import Call
from flex_provider.hooks.api.errors import business_error, error_from_response, transport_error

REQUEST = httpx.Request("POST", "http://127.0.0.1/v1/evaluate")


def _answer(status: int, body: object = None, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers, request=REQUEST)


@pytest.mark.parametrize(
    ("status", "kind"),
    [(401, FlexAuthError), (403, FlexAuthError), (404, FlexNotFoundError), (409, FlexConflictError),
     (429, FlexRateLimitError), (500, FlexServerError), (503, FlexServerError), (418, FlexError)],
)  # fmt: skip
def test_status_maps_to_its_error_type(status: int, kind: type[FlexError]) -> None:
    err = error_from_response(_answer(status, {"title": "nope"}), "evaluate")
    assert type(err) is kind
    assert (err.status, err.message) == (status, "Flex evaluate failed: nope")


def test_success_is_no_error() -> None:
    assert error_from_response(_answer(200, {"status": "SUBMITTED"}), "evaluate") is None
    assert error_from_response(_answer(204), "cancel") is None


def test_a_400_carries_field_errors_and_the_trace_id_in_either_shape() -> None:
    nested = {"title": "One or more validation errors occurred.", "traceId": "00-abc-01",
              "errors": {"transaction.amount": ["must be >= 0"]}}
    err = error_from_response(_answer(400, nested), "evaluate")
    assert type(err) is FlexValidationError
    assert (err.field_errors, err.trace_id) == ({"transaction.amount": ["must be >= 0"]}, "00-abc-01")
    flat = {"title": "bad", "TraceId": ["00-def-01"], "orderId": ["required"], "status": 400}
    err = error_from_response(_answer(400, flat), "evaluate")
    assert (err.field_errors, err.trace_id) == ({"orderId": ["required"]}, "00-def-01")
    assert type(error_from_response(_answer(400, flat), "authentication")) is FlexAuthError  # wrong app key


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    assert error_from_response(_answer(429, None, **{"retry-after": "7"}), "x").retry_after == 7.0
    soon = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    after = error_from_response(_answer(429, None, **{"retry-after": soon}), "x").retry_after
    assert 25 <= after <= 30
    assert error_from_response(_answer(429, None, **{"retry-after": "whenever"}), "x").retry_after is None
    assert error_from_response(_answer(429), "x").retry_after is None


def test_a_200_saying_success_false_is_a_business_error_unless_the_call_does_not_check() -> None:
    refund = Call("POST", "/orders/o-1/refund", None)
    body = {"success": False, "responseCode": "R1", "responseMessage": "amount exceeds refundable", "traceId": "t"}
    err = business_error(refund, body)
    assert type(err) is FlexBusinessError
    assert (err.status, err.code, err.trace_id) == (200, "R1", "t")
    assert "amount exceeds refundable" in err.message
    assert business_error(refund, {"success": True}) is None
    assert business_error(Call("GET", "/orders", None, check_success=False), body) is None


def test_no_answer_is_a_connection_error() -> None:
    err = transport_error(Call("GET", "/orders/o-1", None), httpx.ConnectTimeout("timed out"))
    assert type(err) is FlexConnectionError
    assert err.message == "Flex GET /orders/o-1: no answer (ConnectTimeout: timed out)"
