"""The error map: an HTTP answer (or none) as the typed ``FlexError`` it means."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from flex_provider.exceptions import (
    FlexAuthError,
    FlexBusinessError,
    FlexConflictError,
    FlexConnectionError,
    FlexError,
    FlexNotFoundError,
    FlexRateLimitError,
    FlexServerError,
    FlexValidationError,
)
from flex_provider.hooks.api.call import Call
from flex_provider.models.api import ProblemDetails

if TYPE_CHECKING:
    import httpx

def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def error_from_response(response: httpx.Response, what: str) -> FlexError | None:
    """Map one HTTP answer to the typed error it means, or None for a success."""
    status = response.status_code
    if 200 <= status < 300:
        return None
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    problem = ProblemDetails.model_validate(body) if isinstance(body, dict) else ProblemDetails()
    trace_id = problem.trace() or response.headers.get("traceparent") or response.headers.get("x-trace-id")
    code = str(body.get("responseCode")) if isinstance(body, dict) and body.get("responseCode") else None
    title = problem.title or response.reason_phrase or "error"
    kwargs: dict[str, Any] = {"status": status, "code": code, "trace_id": trace_id}
    message = f"Flex {what} failed: {title}"
    if status == 400:
        fields = problem.field_errors()
        if what == "authentication":
            return FlexAuthError(message + " (check the app key and secret)", field_errors=fields, **kwargs)
        return FlexValidationError(message, field_errors=fields, **kwargs)
    if status in (401, 403):
        return FlexAuthError(message, **kwargs)
    if status == 404:
        return FlexNotFoundError(message, **kwargs)
    if status == 409:
        return FlexConflictError(message, field_errors=problem.field_errors(), **kwargs)
    if status == 429:
        return FlexRateLimitError(
            message, retry_after=_retry_after_seconds(response.headers.get("retry-after")), **kwargs
        )
    if status >= 500:
        return FlexServerError(message, **kwargs)
    return FlexError(message, **kwargs)


def business_error(call: Call, body: Any) -> FlexBusinessError | None:
    """A 200 whose envelope says ``success: false`` (e.g. a refund over the refundable amount)."""
    if call.check_success and isinstance(body, dict) and body.get("success") is False:
        return FlexBusinessError(
            f"Flex refused {call.method} {call.path}: {body.get('responseMessage') or body.get('status') or 'failed'}",
            status=200,
            code=str(body.get("responseCode")) if body.get("responseCode") else None,
            trace_id=body.get("traceId"),
            body={k: body.get(k) for k in ("status", "responseCode", "responseMessage", "transactionId")},
        )
    return None


def transport_error(call: Call, exc: Exception) -> FlexConnectionError:
    """No answer at all (refused, timed out, reset): a retryable connection error."""
    return FlexConnectionError(f"Flex {call.method} {call.path}: no answer ({type(exc).__name__}: {exc})")

