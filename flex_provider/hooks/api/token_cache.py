"""Flex's bearer tokens, cached per process and refreshed shortly before they expire."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from flex_provider.models.api import TokenResponse

TOKEN_REFRESH_MARGIN = 60.0


@dataclass
class _Token:
    value: str
    expires_at: float  # epoch seconds

    def fresh(self) -> bool:
        return time.time() < self.expires_at - TOKEN_REFRESH_MARGIN


class _TokenCache:
    """Process-wide bearer tokens keyed by (base URL, app key): one token serves every hook instance."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, ...], _Token] = {}
        self.lock = threading.Lock()

    def get(self, key: tuple[str, ...]) -> str | None:
        token = self._tokens.get(key)
        return token.value if token and token.fresh() else None

    def put(self, key: tuple[str, ...], response: TokenResponse) -> str:
        self._tokens[key] = _Token(response.access_token, response.expires / 1000.0)
        return response.access_token

    def invalidate(self, key: tuple[str, ...], value: str | None) -> None:
        token = self._tokens.get(key)
        if token and (value is None or token.value == value):
            del self._tokens[key]


TOKEN_CACHE = _TokenCache()

