"""``flex_provider.hooks.api.token_cache``: a token is served until 60 s before it expires, per key."""

from __future__ import annotations

import time

from flex_provider.hooks.api.token_cache import TOKEN_REFRESH_MARGIN, _TokenCache
from flex_provider.models.api import TokenResponse


def _response(token: str, expires_in: float) -> TokenResponse:
    """Flex's token answer: ``expires`` is epoch milliseconds."""
    return TokenResponse.model_validate(
        {"accessToken": token, "refreshToken": "r", "expires": int((time.time() + expires_in) * 1000)}
    )


def test_a_fresh_token_is_served_per_base_url_and_app_key() -> None:
    cache = _TokenCache()
    a, b = ("https://a/v1", "key"), ("https://b/v1", "key")
    assert cache.put(a, _response("tok-a", 3600)) == "tok-a"
    assert cache.get(a) == "tok-a"
    assert cache.get(b) is None


def test_a_token_inside_the_refresh_margin_is_not_served() -> None:
    cache = _TokenCache()
    key = ("https://a/v1", "key")
    cache.put(key, _response("tok", TOKEN_REFRESH_MARGIN - 5))
    assert cache.get(key) is None
    cache.put(key, _response("tok2", TOKEN_REFRESH_MARGIN + 30))
    assert cache.get(key) == "tok2"


def test_invalidate_drops_only_the_token_that_failed() -> None:
    cache = _TokenCache()
    key = ("https://a/v1", "key")
    cache.put(key, _response("new", 3600))
    cache.invalidate(key, "old")  # a 401 on a token another hook already replaced
    assert cache.get(key) == "new"
    cache.invalidate(key, "new")
    assert cache.get(key) is None
    cache.invalidate(key, None)  # nothing cached: no error
