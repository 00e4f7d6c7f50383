"""/evaluate and /transmit: the transaction, payer, addresses, payment method, and their answers."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Literal

from pydantic import (
    Field,
    field_validator,
)

from flex_provider.models.api.base import FlexEnvelope, FlexRequestModel
from flex_provider.models.limits import ORDER_ID_MAX
from flex_provider.pci import looks_like_pan


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
    order_id: str = Field(min_length=1, max_length=ORDER_ID_MAX)
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
