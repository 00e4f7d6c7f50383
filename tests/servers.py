"""
What happens when a server the tests need is not there: under ``CI=true`` the run fails with the reason
(a green CI run must never hide that twelve modules did not run); on a developer's machine the tests are
skipped, and the skip says what is missing and how to get it.

Every fixture that reaches for PostgreSQL, sshd or Redis goes through :func:`server_missing`.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

REDIS_URL = os.environ.get("FLEX_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def on_ci() -> bool:
    """True when ``CI`` is set to anything but empty, ``0``, ``false`` or ``no`` (``.ci/run`` sets ``true``)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def server_missing(reason: str) -> NoReturn:
    """Fail the test under CI, skip it elsewhere; either way with ``reason``."""
    if on_ci():
        pytest.fail(f"{reason} [CI=true: a missing server fails the run]", pytrace=False)
    pytest.skip(reason)


def require_redis(url: str = REDIS_URL) -> None:
    """Redis answers PING at ``url``, or :func:`server_missing`."""
    try:
        import redis
    except ImportError:
        server_missing("redis-py is not installed (the celery extra brings it)")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping()
    except redis.RedisError as exc:
        server_missing(f"Redis not reachable at {url} (start redis-server or set FLEX_TEST_REDIS_URL): {exc}")
