"""``FlexApiAsyncHook`` against the sandbox's Flex API in-process: same calls and errors as the sync hook."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from flex_provider.exceptions import FlexNotFoundError
from flex_provider.hooks.api import TOKEN_CACHE, FlexApiAsyncHook
from tests.unit.hooks.api.sandbox_app import async_client, new_state, sandbox_connection

CARD = {"first_name": "Ann", "last_name": "Lee", "number": "4000002760003184", "month": "09", "year": "2030"}


def test_the_async_hook_tokenizes_reads_orders_and_shares_one_token(tmp_path: Path, monkeypatch) -> None:
    state, app = new_state(tmp_path)
    sandbox_connection(state, monkeypatch)

    async def scenario() -> None:
        hook = FlexApiAsyncHook("flex_default")
        await hook.get_settings()
        TOKEN_CACHE.invalidate(hook._token_key, None)
        hook._client = async_client(app)
        async with hook:
            tokens = await asyncio.gather(*(hook.tokenize({"payment_method": {"credit_card": CARD}}) for _ in range(3)))
            assert all(t.token for t in tokens)
            with pytest.raises(FlexNotFoundError):
                await hook.get_order("00000000-0000-0000-0000-000000000000")
        assert hook._client is None  # closed on exit

    asyncio.run(scenario())
    assert app.state.requests["POST /v1/oauth2/token"] == 1  # concurrent calls wait for one token
    state.close()
