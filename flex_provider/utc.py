"""One way to say "this instant, in UTC": aware datetimes and the ``...Z`` text the schemas store.

Databases hand back naive datetimes (SQLite) or aware ones in the session's zone (PostgreSQL), Flex
sends ISO text with ``Z`` or an offset, and Airflow gives aware pendulum values. Every part of the
provider turns them into aware UTC here, so a naive value is always read as UTC (never local time).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, overload

__all__ = ["parse_utc", "to_utc", "utc_now", "utc_text"]


def utc_now() -> datetime:
    """The current instant, aware UTC."""
    return datetime.now(timezone.utc)


@overload
def to_utc(value: datetime) -> datetime: ...
@overload
def to_utc(value: None) -> None: ...
def to_utc(value: datetime | None) -> datetime | None:
    """``value`` as aware UTC: a naive value is taken as UTC, an aware one converted; None stays None."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def parse_utc(value: Any) -> datetime | None:
    """A datetime or ISO 8601 text (``Z`` allowed) as aware UTC; None for anything it cannot read."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return to_utc(value)


def utc_text(value: datetime | None = None) -> str:
    """An instant (default: now) as ``YYYY-MM-DDTHH:MM:SSZ``: sortable text on SQLite, parsed by PostgreSQL."""
    return to_utc(value or utc_now()).strftime("%Y-%m-%dT%H:%M:%SZ")
