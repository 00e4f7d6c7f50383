"""``FlexApiHook`` against the sandbox's Flex API in-process: one cached token, errors as provider errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from flex_provider.exceptions import FlexNotFoundError
from flex_provider.hooks.api import TOKEN_CACHE, FlexApiHook
from tests.unit.hooks.api.sandbox_app import new_state, sandbox_connection, sync_client

CARD = {"first_name": "Ann", "last_name": "Lee", "number": "4000002760003184", "month": "09", "year": "2030"}


@pytest.fixture
def hook_and_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    state, app = new_state(tmp_path)
    sandbox_connection(state, monkeypatch)
    hook = FlexApiHook("flex_default")
    hook._client = sync_client(app)  # the hook's client, bound to the app instead of a socket
    TOKEN_CACHE.invalidate(hook._token_key, None)
    yield hook, app
    hook.close()
    state.close()


def test_one_token_serves_every_call_until_a_refresh_is_forced(hook_and_app) -> None:
    hook, app = hook_and_app
    first = hook.tokenize({"payment_method": {"credit_card": CARD}}).token
    second = hook.tokenize({"payment_method": {"credit_card": CARD}}).token
    assert first
    assert second
    assert app.state.requests["POST /v1/oauth2/token"] == 1
    cached = hook.get_token()
    fresh = hook.get_token(force_refresh=True)
    assert app.state.requests["POST /v1/oauth2/token"] == 2
    assert fresh != cached
    assert hook.get_token() == fresh


def test_an_unknown_order_is_a_not_found_error(hook_and_app) -> None:
    hook, _ = hook_and_app
    with pytest.raises(FlexNotFoundError):
        hook.get_order("00000000-0000-0000-0000-000000000000")


def test_settings_come_from_the_connection(hook_and_app) -> None:
    hook, _ = hook_and_app
    assert hook.settings.base_url == "http://flex.test/v1"
    assert hook.max_retries == 0  # the connection's extra
    assert FlexApiHook("flex_default", max_retries=5).max_retries == 5  # the argument wins
