"""The retry policy: 5xx, 429 and network errors retried with jittered backoff; Retry-After honoured."""

from __future__ import annotations

import logging

from tenacity import RetryCallState
from tenacity.wait import wait_base

from flex_provider.exceptions import (
    FlexConnectionError,
    FlexRateLimitError,
    FlexServerError,
)

log = logging.getLogger(__name__)


RETRYABLE = (FlexConnectionError, FlexServerError, FlexRateLimitError)


class FlexWait(wait_base):
    """Exponential backoff with full jitter; a 429's Retry-After wins, capped."""

    def __init__(self, initial: float, maximum: float, retry_after_cap: float) -> None:
        self.initial = initial
        self.maximum = maximum
        self.retry_after_cap = retry_after_cap

    def __call__(self, retry_state: RetryCallState) -> float:
        import random

        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, FlexRateLimitError) and exc.retry_after is not None:
            return min(exc.retry_after, self.retry_after_cap)
        ceiling = min(self.maximum, self.initial * 2 ** (retry_state.attempt_number - 1))
        return random.uniform(self.initial / 2, ceiling)


def log_retry(retry_state: RetryCallState) -> None:
    """Log each retry with its attempt number and the wait before the next one."""
    exc = retry_state.outcome.exception() if retry_state.outcome else None
    log.warning(
        "Flex call failed (attempt %d), retrying in %.2fs: %s",
        retry_state.attempt_number,
        retry_state.upcoming_sleep,
        exc,
    )


