"""The webhook sender's admin API, ``/_sandbox/webhooks`` (not Flex): target URL, fault knobs, outbox, injection.

Tests point the sender at their receiver, switch its faults (duplicate, reorder, delay, drop), make the
backoff end now, read the outbox counts and queue hand-written events (``POST /send``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, Body, HTTPException

from flex_provider.sandbox.webhook_payload import with_defaults
from flex_provider.sandbox.webhooks import WebhookSender


def _events_from_body(body: Any) -> Iterable[dict[str, Any]]:
    items = body.get("events") if isinstance(body, dict) else body
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ValueError("send {'events': [ {...}, ... ]} or a list of event objects")
    return items


def admin_router(sender: WebhookSender) -> APIRouter:
    """FastAPI router for ``/_sandbox/webhooks``: target, faults, outbox counts, event injection."""
    router = APIRouter()

    @router.post("/target")
    def set_target(body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
        try:
            sender.set_target(body.get("url"))
        except Exception as exc:
            raise HTTPException(422, f"bad url: {exc}") from exc
        return sender.status()

    @router.post("/faults")
    def set_faults(body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
        try:
            sender.set_faults(**body)
        except (TypeError, ValueError) as exc:
            raise HTTPException(422, str(exc)) from exc
        return sender.status()

    @router.post("/faults/reset")
    def reset_faults() -> dict[str, Any]:
        sender.reset_faults()
        return sender.status()

    @router.get("/outbox")
    def outbox() -> dict[str, Any]:
        return sender.status()

    @router.post("/redeliver")
    def redeliver() -> dict[str, Any]:
        return {"made_due": sender.redeliver_now(), **sender.status()}

    @router.post("/send")
    def send(body: Any = Body(...)) -> dict[str, Any]:  # noqa: B008
        """Queue arbitrary events. Missing fields get defaults unless ``{"raw": true}``; faults apply
        unless ``{"apply_faults": false}``."""
        try:
            items = list(_events_from_body(body))
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        raw = isinstance(body, dict) and bool(body.get("raw"))
        apply_faults = not isinstance(body, dict) or body.get("apply_faults", True)
        ids: list[int] = []
        for item in items:
            payload = dict(item) if raw else with_defaults(item, is_test_mode=sender.is_test_mode)
            ids += sender.enqueue(payload, apply_faults=bool(apply_faults))
        return {"queued": len(ids), "ids": ids}

    return router
