"""``flex_provider.models.api.base``: requests refuse unknown fields, responses keep reading; both problem shapes."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from flex_provider.models.api import CancelRequest, FlexEnvelope, ProblemDetails


def test_a_request_refuses_an_unknown_field_a_response_ignores_it() -> None:
    with pytest.raises(ValidationError):
        CancelRequest.model_validate({"idempotencyKey": "k", "idempotency_Key": "typo"})
    env = FlexEnvelope.model_validate({"success": True, "statusCode": "200", "newField": 1})
    assert (env.success, env.status_code, env.errors) == (True, "200", [])


def test_problem_details_field_errors_in_either_shape_and_one_trace_id() -> None:
    nested = ProblemDetails.model_validate({"title": "t", "errors": {"OrderId": ["required"]}, "traceId": "a"})
    assert (nested.field_errors(), nested.trace()) == ({"OrderId": ["required"]}, "a")
    flat = ProblemDetails.model_validate({"title": "t", "OrderId": ["required"], "note": "x", "count": [1],
                                          "TraceId": ["b", "c"]})
    assert (flat.field_errors(), flat.trace()) == ({"OrderId": ["required"]}, "b")
    assert ProblemDetails.model_validate({"TraceId": []}).trace() is None
