"""Fault knobs of the sandbox's ``/v1`` API: rate limits, 5xx answers, latency, answers lost after commit.

:class:`Faults` holds the knobs that the API middleware (``sandbox/api.py``) consults on every ``/v1``
request; :class:`FaultSettings` is the body of ``POST /_sandbox/faults`` (see docs/sandbox.md).
"""

from __future__ import annotations

import random
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Faults:
    """Fault knobs for ``/v1`` requests (see docs/sandbox.md); the 5xx ratio uses a seeded RNG."""

    def __init__(self, seed: int = 0) -> None:
        self._rng = random.Random(f"faults:{seed}")
        self.reset()

    def reset(self) -> None:
        """All knobs off."""
        self.rate_limit_next = 0
        self.retry_after: float = 1
        self.fail_next_5xx = 0
        self.error_ratio_5xx = 0.0
        self.latency_ms = 0.0
        self.drop_response_after_commit_next = 0
        self.drop_route: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Current knob values."""
        return {
            "rate_limit_next": self.rate_limit_next,
            "retry_after": self.retry_after,
            "fail_next_5xx": self.fail_next_5xx,
            "error_ratio_5xx": self.error_ratio_5xx,
            "latency_ms": self.latency_ms,
            "drop_response_after_commit_next": self.drop_response_after_commit_next,
            "drop_route": self.drop_route,
        }

    def before(self) -> tuple[int, dict[str, str]] | None:
        """A fault that replaces the response before the request runs, or None."""
        if self.rate_limit_next > 0:
            self.rate_limit_next -= 1
            return 429, {"Retry-After": f"{self.retry_after:g}"}
        if self.fail_next_5xx > 0:
            self.fail_next_5xx -= 1
            return 500, {}
        if self.error_ratio_5xx > 0 and self._rng.random() < self.error_ratio_5xx:
            return 500, {}
        return None

    def take_drop(self, route: str) -> bool:
        """True when this (already processed) request's answer must be replaced by a 503."""
        if self.drop_route is not None and route != self.drop_route:
            return False
        if self.drop_response_after_commit_next > 0:
            self.drop_response_after_commit_next -= 1
            return True
        return False


class FaultSettings(BaseModel):
    """Body of ``POST /_sandbox/faults``: only the given knobs change."""

    model_config = ConfigDict(extra="forbid")
    rate_limit_next: int | None = Field(default=None, ge=0)
    retry_after: float | None = Field(default=None, ge=0)
    fail_next_5xx: int | None = Field(default=None, ge=0)
    error_ratio_5xx: float | None = Field(default=None, ge=0, le=1)
    latency_ms: float | None = Field(default=None, ge=0)
    drop_response_after_commit_next: int | None = Field(default=None, ge=0)
    #: Only answers of this route are dropped (``"POST /v1/orders/{id}/refund"``); None = any route.
    drop_route: str | None = None
