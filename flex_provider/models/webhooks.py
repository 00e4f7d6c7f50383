"""Pydantic model of one Flex webhook delivery (flex-api.md section 3.3).

On the wire the payload is PascalCase (``{"Event", "TimeStamp", "OrderId", ...}``); in Python the fields are
snake_case. Unknown fields are kept (``extra="allow"``) because Flex documents no full schema per event.
``Amount`` (cents) and ``Currency`` are our additions, sent by the sandbox; real Flex may omit them.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from flex_provider.utc import to_utc

#: Event name -> order status it implies. Other events are stored but do not move the order state.
EVENT_STATUS: dict[str, str] = {
    "order.completed": "APPROVED",
    "order.expired": "EXPIRED",
    "order.cancelled": "CANCELLED",
    "order.refunded": "REFUNDED",
    "payment.chargeback.received": "CHARGEBACK",
}

#: Precedence of order states (higher wins). See docs/webhooks.md "Ordering".
STATUS_RANK: dict[str, int] = {
    "APPROVED": 1,
    "EXPIRED": 1,
    "CANCELLED": 1,
    "REFUNDED": 2,
    "CHARGEBACK": 2,
}

KNOWN_EVENTS: frozenset[str] = frozenset(
    {
        *EVENT_STATUS,
        "order.capturerequired",
        "challenge.presented",
        "challenge.attempted",
        "challenge.passed",
        "challenge.failed",
        "payout.created",
        "payout.updated",
    }
)


class FlexWebhookEvent(BaseModel):
    """One Flex webhook event; ``FlexWebhookEvent.model_validate_json(raw_body)`` parses a delivery."""

    model_config = ConfigDict(populate_by_name=True, extra="allow", frozen=True)

    event: str = Field(alias="Event", min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.\-]+$")
    timestamp: datetime = Field(alias="TimeStamp")
    event_data: Any = Field(default=None, alias="EventData")
    external_order_id: str | None = Field(default=None, alias="ExternalOrderId", max_length=256)
    order_id: str | None = Field(default=None, alias="OrderId", max_length=256)
    confirmation_id: str | None = Field(default=None, alias="ConfirmationId", max_length=256)
    is_test_mode: bool = Field(default=False, alias="IsTestMode")
    is_resent: bool = Field(default=False, alias="IsResent")
    amount: int | None = Field(default=None, alias="Amount", description="ours: amount in cents")
    currency: str | None = Field(default=None, alias="Currency", max_length=8, description="ours: ISO 4217")

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return to_utc(value)

    @field_validator("external_order_id", "order_id", "confirmation_id", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> Any:
        """An id sent as a JSON number (a merchant's numeric order id echoed back) is its text."""
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("amount", mode="before")
    @classmethod
    def _amount_or_none(cls, value: Any) -> Any:
        """
        ``Amount`` (whole cents) and ``Currency`` are the sandbox's additions: in any other form they are
        left unread (the raw payload keeps them), never a reason to refuse Flex's delivery.
        """
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        digits = value.strip().lstrip("-") if isinstance(value, str) else ""
        if digits.isascii() and digits.isdigit():  # "²" is a digit to str.isdigit, not to int()
            return int(value)
        return None

    @field_validator("currency", mode="before")
    @classmethod
    def _currency_or_none(cls, value: Any) -> Any:
        """See :meth:`_amount_or_none`."""
        return value if isinstance(value, str) and len(value) <= 8 else None
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        digits = value.strip().lstrip("-") if isinstance(value, str) else ""
        if digits.isascii() and digits.isdigit():  # "²" is a digit to str.isdigit, not to int()
            return int(value)
        return None

    @property
    def status(self) -> str | None:
        """Order status this event implies (``APPROVED``, ``REFUNDED``...), or None."""
        return EVENT_STATUS.get(self.event)

    @property
    def dedupe_key(self) -> str:
        """Stable idempotency key over (Event, OrderId, TimeStamp): Flex sends no event id."""
        raw = f"{self.event}|{self.order_id or ''}|{self.timestamp_iso}"
        return hashlib.sha256(raw.encode()).hexdigest()

    @property
    def timestamp_iso(self) -> str:
        """The event time as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (normalised for keys and ordering)."""
        return self.timestamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def to_wire(self) -> dict[str, Any]:
        """The PascalCase JSON-able dict Flex would send (extra fields included)."""
        data = self.model_dump(by_alias=True, mode="json")
        data["TimeStamp"] = self.timestamp_iso
        return data
