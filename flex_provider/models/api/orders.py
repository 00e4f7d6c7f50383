"""Orders: GET /orders (one, a page), their statuses, and refund / cancel / capture."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import IntEnum

from pydantic import (
    AliasChoices,
    Field,
    field_serializer,
)

from flex_provider.models.api.base import FlexEnvelope, FlexRequestModel, FlexResponseModel


class RefundRequest(FlexRequestModel):
    """Body of POST /orders/{id}/refund; the amount is in dollars, as Flex's refund endpoint takes it."""

    # Major units with the currency's decimals (JPY 0, USD 2, KWD 3, CLF 4).
    amount_to_refund: Decimal = Field(gt=0, max_digits=18, decimal_places=4)
    refund_message: str | None = None
    idempotency_key: str | None = None

    @field_serializer("amount_to_refund")
    def _as_number(self, value: Decimal) -> float:
        return float(value)


class CancelRequest(FlexRequestModel):
    """Body of POST /orders/{id}/cancel and /external-cancel."""

    idempotency_key: str | None = None


class CaptureRequest(FlexRequestModel):
    """Body of POST /capture."""

    idempotency_key: str
    order_id: str
    amount: int = Field(ge=0, description="cents")
    currency: str = Field(min_length=3, max_length=3)


class RefundResponse(FlexEnvelope):
    """Answer of POST /orders/{id}/refund."""

    response_code: str | None = None
    response_message: str | None = None
    transaction_id: str | None = None


class CaptureResponse(FlexEnvelope):
    """Answer of POST /capture."""

    capture_status: str | None = None


class OrderStatus(IntEnum):
    """Flex order status codes (GET /orders); 8 = Expired is the sandbox's, Flex's list stops at 7."""

    DRAFT = 0
    ONHOLD = 1
    CANCELLED = 2
    PROBLEM = 3
    PROCESSING = 4
    CAPTUREREQUIRED = 5
    RETURNED = 6
    COMPLETED = 7
    EXPIRED = 8

    @property
    def is_final(self) -> bool:
        """True when Flex will not move the order any more on its own."""
        return self in FINAL_ORDER_STATUSES


FINAL_ORDER_STATUSES = frozenset(
    {OrderStatus.CANCELLED, OrderStatus.RETURNED, OrderStatus.COMPLETED, OrderStatus.EXPIRED}
)


class Order(FlexResponseModel):
    """One order from GET /orders/{id} or a page of GET /orders."""

    id: str
    external_order_id: str | None = Field(
        default=None, validation_alias=AliasChoices("externalOrderId", "orderId", "external_order_id")
    )
    status: int
    status_name: str | None = None
    order_placed_date: datetime | None = None
    expiry_date: datetime | None = None
    completed_date: datetime | None = None
    last_updated_date: datetime | None = None
    amount: int | None = None
    refunded_amount: int | None = None
    currency_code: str | None = None
    confirmation_id: str | None = None
    mid: str | None = None

    @property
    def order_status(self) -> OrderStatus | None:
        """The status as an enum, or None for a code this provider does not know."""
        try:
            return OrderStatus(self.status)
        except ValueError:
            return None

    @property
    def is_final(self) -> bool:
        """True when the order reached a final status."""
        status = self.order_status
        return status is not None and status.is_final


class OrderPage(FlexResponseModel):
    """One page of GET /orders."""

    items: list[Order] = Field(default_factory=list)
    page_number: int = 1
    page_size: int | None = None
    page_count: int | None = None
    total_item_count: int | None = None
    has_next_page: bool = False
