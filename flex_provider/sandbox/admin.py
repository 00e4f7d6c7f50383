"""The sandbox's own admin API under ``/_sandbox`` (not Flex): clock, faults, request counts, raw state.

Tests drive the sandbox through these routes: advance or speed up the clock (and settle what fell due),
set the ``/v1`` fault knobs, switch strict idempotency, read the per-route request counts and the raw
orders, events and vaulted cards. Mounted by :func:`flex_provider.sandbox.api.create_app`.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from flex_provider.sandbox.faults import Faults, FaultSettings
from flex_provider.sandbox.problems import problem
from flex_provider.sandbox.state import SandboxState


class ClockChange(BaseModel):
    """Body of ``POST /_sandbox/clock``."""

    model_config = ConfigDict(extra="forbid")
    advance_seconds: float | None = Field(default=None, ge=0)
    speed: float | None = Field(default=None, ge=0)


class IdempotencyMode(BaseModel):
    """Body of ``POST /_sandbox/idempotency``: ``strict`` true = only idempotency keys dedupe."""

    model_config = ConfigDict(extra="forbid")
    strict: bool


def admin_router(state: SandboxState, faults: Faults, requests: Counter[str]) -> APIRouter:
    """Routes under ``/_sandbox``: clock, fault knobs, idempotency mode, request counts, raw orders and events."""
    router = APIRouter()

    def clock_view() -> dict[str, Any]:
        return {"now": state.clock.now().isoformat().replace("+00:00", "Z"), "speed": state.clock.speed,
                "offset_seconds": state.clock.offset_seconds}

    @router.get("/clock")
    def get_clock() -> dict[str, Any]:
        """Sandbox time, speed and offset from real time."""
        return clock_view()

    @router.post("/clock")
    def set_clock(change: ClockChange) -> dict[str, Any]:
        """Advance and/or change speed, then settle whatever became due (returned as ``events``)."""
        if change.speed is not None:
            state.clock.set_speed(change.speed)
        if change.advance_seconds:
            state.clock.advance(change.advance_seconds)
        events = state.settle_due()
        return {**clock_view(), "events": [state.event_dict(e) for e in events]}

    @router.get("/faults")
    def get_faults() -> dict[str, Any]:
        """Current fault knobs."""
        return faults.as_dict()

    @router.post("/faults")
    def set_faults(settings: FaultSettings) -> dict[str, Any]:
        """Set the given knobs (others unchanged)."""
        for key, value in settings.model_dump(exclude_none=True).items():
            setattr(faults, key, value)
        return faults.as_dict()

    @router.post("/faults/reset")
    def reset_faults() -> dict[str, Any]:
        """All knobs off."""
        faults.reset()
        return faults.as_dict()

    @router.get("/idempotency")
    def get_idempotency() -> dict[str, bool]:
        """``{"strict": bool}``: whether only idempotency keys dedupe (not the orderId of an open order)."""
        return {"strict": state.strict_idempotency}

    @router.post("/idempotency")
    def set_idempotency(mode: IdempotencyMode) -> dict[str, bool]:
        """Switch strict idempotency on or off (in memory; a restart goes back to ``--strict-idempotency``)."""
        state.strict_idempotency = mode.strict
        return {"strict": state.strict_idempotency}

    @router.get("/requests")
    def get_requests() -> dict[str, int]:
        """API request counts per ``METHOD /v1/path-template`` (faulted requests included)."""
        return dict(requests)

    @router.delete("/requests")
    def reset_requests() -> dict[str, int]:
        """Zero the request counts."""
        requests.clear()
        return {}

    @router.post("/settle")
    def settle() -> dict[str, Any]:
        """Apply due transitions now."""
        return {"events": [state.event_dict(e) for e in state.settle_due()]}

    @router.get("/orders")
    def raw_orders() -> list[dict[str, Any]]:
        """Every order with every stored column."""
        return state.raw_orders()

    @router.get("/events")
    def raw_events(after: int = 0) -> list[dict[str, Any]]:
        """Every order event emitted so far (``seq`` > ``after``)."""
        return state.raw_events(after)

    @router.get("/cards/{token}")
    def vault_card(token: str) -> JSONResponse:
        """The vault entry of a card token (BIN, last 4, brand, behaviour; never a PAN), 404 if unknown."""
        card = state.vault_card(token)
        if card is None:
            return JSONResponse(problem(404, detail="Unknown card token."), status_code=404)
        return JSONResponse(card)

    @router.get("/merchant")
    def merchant() -> dict[str, Any]:
        """The sandbox merchant's credentials (also in sandbox.json)."""
        return dict(state.merchant.__dict__)

    return router
