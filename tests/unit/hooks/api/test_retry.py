"""``flex_provider.hooks.api.retry``: retryable errors back off with jitter inside their bounds; 429 waits as told.

Run through tenacity itself (the hooks' retry engine), with its sleep recorded instead of slept.
"""

from __future__ import annotations

import pytest
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

from flex_provider.exceptions import FlexRateLimitError, FlexServerError, FlexValidationError
from flex_provider.hooks.api.retry import RETRYABLE, FlexWait


def _run(errors: list[Exception], wait: FlexWait) -> tuple[list[float], int]:
    """Call a function that raises ``errors`` in turn, then succeeds; return the sleeps and the calls."""
    sleeps: list[float] = []
    calls = {"n": 0}

    def call() -> str:
        calls["n"] += 1
        if errors:
            raise errors.pop(0)
        return "ok"

    retrying = Retrying(stop=stop_after_attempt(10), wait=wait, retry=retry_if_exception_type(RETRYABLE),
                        sleep=sleeps.append, reraise=True)
    assert retrying(call) == "ok"
    return sleeps, calls["n"]


def test_backoff_stays_between_half_the_initial_and_the_doubling_ceiling() -> None:
    for _ in range(20):  # bounded: the jitter is random, each run must stay inside the bounds
        sleeps, calls = _run([FlexServerError("5xx", status=503) for _ in range(6)], FlexWait(0.5, 4.0, 30.0))
        assert calls == 7
        ceilings = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]  # 0.5 * 2**(n-1), capped at the maximum
        assert all(0.25 <= s <= c for s, c in zip(sleeps, ceilings, strict=True)), sleeps


def test_retry_after_is_honoured_and_capped() -> None:
    sleeps, _ = _run([FlexRateLimitError("429", retry_after=7.0), FlexRateLimitError("429", retry_after=600.0)],
                     FlexWait(0.5, 4.0, 30.0))
    assert sleeps == [7.0, 30.0]


def test_a_validation_error_is_not_retried() -> None:
    with pytest.raises(FlexValidationError):
        _run([FlexValidationError("400", status=400)], FlexWait(0.5, 4.0, 30.0))
