"""
Hooks for Flex's REST API: ``FlexApiHook`` (sync, for workers) and ``FlexApiAsyncHook`` (for triggers).

Both twins share one connection parser (``settings``), one token cache (``token_cache``), one error map
(``errors``) and one retry policy (``retry``); each API operation is described once (``endpoints``, as a
``call.Call``) and executed by either twin (``sync_hook``, ``async_hook``). This package keeps the public
names importable from ``flex_provider.hooks.api``.
"""

from __future__ import annotations

from flex_provider.hooks.api.async_hook import FlexApiAsyncHook
from flex_provider.hooks.api.errors import error_from_response
from flex_provider.hooks.api.retry import RETRYABLE
from flex_provider.hooks.api.settings import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    FlexConnectionSettings,
)
from flex_provider.hooks.api.sync_hook import FlexApiHook
from flex_provider.hooks.api.token_cache import TOKEN_CACHE, TOKEN_REFRESH_MARGIN

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "RETRYABLE",
    "TOKEN_CACHE",
    "TOKEN_REFRESH_MARGIN",
    "FlexApiAsyncHook",
    "FlexApiHook",
    "FlexConnectionSettings",
    "error_from_response",
]
