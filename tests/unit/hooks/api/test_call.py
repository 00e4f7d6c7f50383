"""``flex_provider.hooks.api.call``: the headers of a call carry the bearer token only when there is one."""

from __future__ import annotations

from flex_provider.hooks.api.call import request_headers


def test_json_headers_with_and_without_a_token() -> None:
    assert request_headers(None) == {"Accept": "application/json", "Content-Type": "application/json"}
    assert request_headers("abc")["Authorization"] == "Bearer abc"
    assert "Authorization" not in request_headers("")
