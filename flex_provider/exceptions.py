"""Typed errors raised by the Flex hooks: one base class, one subclass per way a call can fail."""

from __future__ import annotations

from typing import Any

from airflow.sdk.exceptions import AirflowException


class FlexError(AirflowException):
    """
    Base class of every error the Flex provider raises for an API call.

    :param message: human-readable summary.
    :param status: HTTP status, or None when no answer came back.
    :param code: Flex's error code (``responseCode``), when the body has one.
    :param trace_id: Flex's ``traceId`` for support tickets.
    :param field_errors: field path -> messages, from a 400 problem-details body.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        trace_id: str | None = None,
        field_errors: dict[str, list[str]] | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.trace_id = trace_id
        self.field_errors = field_errors or {}
        self.body = body

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.append(f"status={self.status}")
        if self.code:
            parts.append(f"code={self.code}")
        if self.trace_id:
            parts.append(f"trace_id={self.trace_id}")
        if self.field_errors:
            parts.append(
                "fields: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in sorted(self.field_errors.items()))
            )
        return " | ".join(parts)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self.__dict__))


def _rebuild(cls: type[FlexError], message: str, state: dict[str, Any]) -> FlexError:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    return err


class FlexAuthError(FlexError):
    """Credentials refused (bad app key/secret, or a token Flex no longer accepts)."""


class FlexValidationError(FlexError):
    """Flex rejected the request body (HTTP 400 problem details); ``field_errors`` says which fields."""


class FlexNotFoundError(FlexError):
    """The order (or other resource) does not exist at Flex."""


class FlexConflictError(FlexError):
    """HTTP 409: the same idempotency key is in flight, or was used with another body."""


class FlexRateLimitError(FlexError):
    """HTTP 429; ``retry_after`` holds the server's Retry-After in seconds, when given."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class FlexServerError(FlexError):
    """HTTP 5xx from Flex: worth retrying with the same idempotency key."""


class FlexConnectionError(FlexError):
    """No usable answer: connection refused or reset, DNS failure, or a timeout."""


class FlexBusinessError(FlexError):
    """Flex answered but refused the operation (``success: false``), e.g. code 2001 for a refund too large."""


class FlexHostKeyMismatchError(AirflowException):
    """The SFTP server presented a host key other than the one pinned in the connection."""
