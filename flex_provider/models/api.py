"""
Pydantic models of Flex's REST payloads.

camelCase on the wire, snake_case in Python. Requests forbid unknown fields (a typo is an error here,
not a silently dropped field at Flex); responses ignore unknown fields, as Flex asks clients to.
Amounts are integer cents everywhere except ``RefundRequest.amount_to_refund`` (dollars, per Flex).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum, IntEnum
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_serializer,
    field_validator,
)
from pydantic.alias_generators import to_camel

from flex_provider.pci import looks_like_pan


class FlexRequestModel(BaseModel):
    """Base of request bodies: camelCase aliases, unknown fields refused."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    def to_wire(self) -> dict[str, Any]:
        """Return the JSON-ready body Flex expects (aliases, no nulls)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class FlexResponseModel(BaseModel):
    """Base of response bodies: camelCase aliases, unknown fields tolerated."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class FlexEnvelope(FlexResponseModel):
    """The envelope most Flex answers carry."""

    success: bool | None = None
    result: str | None = None
    status: str | None = None
    status_code: str | None = None
    errors: list[Any] = Field(default_factory=list)
    custom_properties: dict[str, Any] | None = None


# --- nested request objects ---------------------------------------------------------------------


class Transaction(FlexRequestModel):
    """The PSP transaction that was approved (transmit) or declined (evaluate)."""

    id: str = Field(min_length=1)
    timestamp_utc: datetime | None = None
    timezone_utc_offset: float | None = None
    amount: int = Field(ge=0, description="cents")
    currency: str = Field(min_length=3, max_length=3)
    response_code: str | None = None
    response_description: str | None = None
    response_status: str | None = None
    response_sub_status: str | None = None
    response_code_source: str | None = None
    processor_name: str | None = None
    avs_result_code: str | None = None
    cvv_result_code: str | None = None
    cavv_result_code: str | None = None
    transaction_type: str | None = None
    dynamic_descriptor: str | None = None
    card_not_present: bool | None = None


class Payer(FlexRequestModel):
    """The customer."""

    id: str | None = None
    email: str | None = None
    phone: str | None = None
    birthdate: str | None = None


class Address(FlexRequestModel):
    """Billing or shipping address."""

    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    country: str | None = None
    country_code: str | None = Field(default=None, min_length=2, max_length=2)
    address_line1: str | None = None
    address_line2: str | None = None
    state: str | None = None
    city: str | None = None
    zip_code: str | None = None


class PaymentMethod(FlexRequestModel):
    """
    The card, as a Flex token only.

    ``card_number`` carries the token from ``/tokenize`` with ``token=True``. A value that looks like a
    real card number is refused: the provider never puts a PAN into a request, a file or a log.
    """

    card_number: str | None = None
    token: bool | None = None
    holder_name: str | None = None
    card_type: str | None = None
    card_brand: str | None = None
    card_country: str | None = None
    card_issuer: str | None = None
    card_level: str | None = None
    card_fingerprint: str | None = None
    expiration_month: int | None = Field(default=None, ge=1, le=12)
    expiration_year: int | None = Field(default=None, ge=2000, le=2100)
    card_bin_number: str | None = Field(default=None, pattern=r"^\d{6,8}$")
    card_last4_digits: str | None = Field(default=None, pattern=r"^\d{4}$")

    @field_validator("card_number")
    @classmethod
    def _no_pan(cls, value: str | None) -> str | None:
        if looks_like_pan(value):
            raise ValueError("pan_detected: cardNumber must be a Flex token, never a card number")
        return value


class Subscription(FlexRequestModel):
    """The subscription an MIT belongs to."""

    subscription_id: str | None = None
    interval: str | None = None
    price: int | None = Field(default=None, ge=0, description="cents")
    currency: str | None = None
    payment_number: str | None = None
    total_payments: str | None = None


class OrderItem(FlexRequestModel):
    """One line item."""

    sku: str | None = None
    name: str | None = None
    description: str | None = None
    amount: int | None = None
    discount_amount: int | None = None
    tax: int | None = None
    discount_type: str | None = None
    quantity: int | None = None


class AdditionalField(FlexRequestModel):
    """Free key/value pair."""

    key: str
    value: str | None = None


class _TransactionRequest(FlexRequestModel):
    """Fields /evaluate and /transmit share."""

    mid: str | None = None
    order_id: str = Field(min_length=1)
    order_source: str | None = None
    sequence_number: str | None = None
    is_mit: bool | None = Field(default=None, alias="isMIT")
    is_recurring: bool | None = None
    site_id: str | None = None
    site_url: str | None = None
    customer_ip: str | None = None
    sense_key: str | None = None
    correlation_id: str | None = None
    transaction: Transaction
    payer: Payer | None = None
    billing_information: Address | None = None
    shipping_information: Address | None = None
    payment_method: PaymentMethod | None = None
    subscription: Subscription | None = None
    order_items: list[OrderItem] | None = None
    additional_fields: list[AdditionalField] | None = None


class EvaluateRequest(_TransactionRequest):
    """Body of POST /evaluate, and one row of an evaluate batch file."""

    is_declined: Literal[True] = True
    idempotency_key: str = Field(min_length=1)
    transaction_type: str | None = None
    expiry_date_utc: datetime | None = None


class TransmitRequest(_TransactionRequest):
    """Body of POST /transmit, and one row of a transmit batch file."""

    is_declined: bool = False
    idempotency_key: str | None = None


class CreditCard(BaseModel):
    """The card for /tokenize; number and CVV are secrets that never print."""

    model_config = ConfigDict(extra="forbid")

    first_name: str
    last_name: str
    number: SecretStr
    verification_value: SecretStr | None = None
    month: str = Field(pattern=r"^(0[1-9]|1[0-2])$")
    year: str = Field(pattern=r"^\d{4}$")

    @field_serializer("number", "verification_value", when_used="json")
    def _reveal(self, value: SecretStr | None) -> str | None:
        return value.get_secret_value() if value is not None else None


class TokenizePaymentMethod(BaseModel):
    """``payment_method`` object of /tokenize (snake_case on the wire, per Flex)."""

    model_config = ConfigDict(extra="forbid")

    email: str | None = None
    sense_key: str | None = None
    credit_card: CreditCard


class TokenizeRequest(BaseModel):
    """Body of POST /tokenize."""

    model_config = ConfigDict(extra="forbid")

    payment_method: TokenizePaymentMethod

    def to_wire(self) -> dict[str, Any]:
        """Return the JSON-ready body (the card is revealed only here, for the request itself)."""
        return self.model_dump(mode="json", exclude_none=True)


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


# --- responses ----------------------------------------------------------------------------------


class TokenResponse(FlexEnvelope):
    """Answer of POST /oauth2/token; ``expires`` is milliseconds since the epoch."""

    access_token: str
    refresh_token: str | None = None
    expires: int
    id: str | None = None


class TokenizedCard(BaseModel):
    """``transaction.payment_method`` of the /tokenize answer."""

    model_config = ConfigDict(extra="ignore")

    token: str
    first_six_digits: str | None = None
    last_four_digits: str | None = None
    card_type: str | None = None
    month: int | str | None = None
    year: int | str | None = None
    fingerprint: str | None = None


class TokenizeTransaction(BaseModel):
    """``transaction`` of the /tokenize answer."""

    model_config = ConfigDict(extra="ignore")

    succeeded: bool | None = None
    payment_method: TokenizedCard


class TokenizeResponse(FlexEnvelope):
    """Answer of POST /tokenize."""

    transaction: TokenizeTransaction

    @property
    def token(self) -> str:
        """The Flex card token to store for later /evaluate calls."""
        return self.transaction.payment_method.token


class EvaluateStatus(str, Enum):
    """Statuses /evaluate answers with."""

    APPROVED = "APPROVED"
    DECLINED = "DECLINED"
    SUBMITTED = "SUBMITTED"
    CHALLENGE = "CHALLENGE"
    CAPTUREREQUIRED = "CAPTUREREQUIRED"
    PROCESSING = "PROCESSING"
    FAILED = "FAILED"


class EvaluateResponse(FlexEnvelope):
    """Answer of POST /evaluate; ``order_session_key`` is Flex's order id."""

    order_session_key: str
    order_id: str | None = None
    sense_key: str | None = None


class TransmitResponse(FlexEnvelope):
    """Answer of POST /transmit."""

    transmit_id: str | None = None


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


class ProblemDetails(BaseModel):
    """ASP.NET problem details, Flex's 400 body; some answers flatten field errors to the top level."""

    model_config = ConfigDict(extra="allow")

    status: int | None = None
    title: str | None = None
    trace_id: str | list[str] | None = Field(
        default=None, validation_alias=AliasChoices("traceId", "TraceId")
    )
    errors: dict[str, list[str]] | None = None

    def field_errors(self) -> dict[str, list[str]]:
        """Field path -> messages, whichever of the two shapes Flex used."""
        if self.errors:
            return dict(self.errors)
        extra = self.model_extra or {}
        return {k: v for k, v in extra.items() if isinstance(v, list) and all(isinstance(m, str) for m in v)}

    def trace(self) -> str | None:
        """The trace id as one string."""
        if isinstance(self.trace_id, list):
            return self.trace_id[0] if self.trace_id else None
        return self.trace_id
