"""Flex's webhook payload as the sandbox sends it: PascalCase keys, ``TimeStamp`` in UTC with ``Z``.

:func:`payload_from_order_event` turns a sandbox ``OrderEvent`` into the body ``WebhookSender`` queues;
:func:`with_defaults` completes a hand-written event of ``POST /_sandbox/webhooks/send``.
``Amount``/``Currency`` are ours (Flex's documented payload has neither).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any


def iso_timestamp(ts: Any) -> str:
    """``TimeStamp`` of a payload: a datetime as ISO 8601 UTC with microseconds and ``Z`` (naive = UTC)."""
    if isinstance(ts, datetime):
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=timezone.utc)
        return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return str(ts)


def payload_from_order_event(event: Any, *, is_test_mode: bool = True) -> dict[str, Any]:
    """Flex webhook payload (PascalCase) for a sandbox ``OrderEvent``; ``Amount``/``Currency`` are ours."""
    return {
        "Event": event.event,
        "TimeStamp": iso_timestamp(event.timestamp),
        "EventData": None,
        "ExternalOrderId": event.external_order_id,
        "OrderId": event.order_id,
        "ConfirmationId": getattr(event, "confirmation_id", None),
        "IsTestMode": is_test_mode,
        "IsResent": False,
        "Amount": getattr(event, "amount", None),
        "Currency": getattr(event, "currency", None),
    }


def with_defaults(event: dict[str, Any], *, is_test_mode: bool, now: datetime | None = None) -> dict[str, Any]:
    """``event`` with the payload keys it lacks filled in (``TimeStamp`` = ``now``, default now UTC)."""
    payload = dict(event)
    payload.setdefault("TimeStamp", iso_timestamp(now or datetime.now(timezone.utc)))
    for key, default in (("EventData", None), ("ExternalOrderId", None), ("OrderId", None),
                         ("ConfirmationId", None), ("IsTestMode", is_test_mode), ("IsResent", False)):
        payload.setdefault(key, default)
    return payload
