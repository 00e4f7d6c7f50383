"""``flex_provider.sandbox.problems``: error bodies in ASP.NET's problem-details shape, with a trace id."""

from __future__ import annotations

import re

from flex_provider.sandbox.problems import problem


def test_problem_details_shape() -> None:
    body = problem(400, {"OrderId": ["The OrderId field is required."]})
    assert (body["title"], body["status"], body["type"]) == (
        "One or more validation errors occurred.", 400, "https://tools.ietf.org/html/rfc9110#section-15.5")
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", body["traceId"])
    gone = problem(503, detail="down", trace_id="t")
    assert gone == {"type": "https://tools.ietf.org/html/rfc9110#section-15.6", "title": "Service Unavailable",
                    "status": 503, "detail": "down", "traceId": "t"}
