"""Request models of Flex's API v1 in the sandbox (its own; it never trusts the provider's models).

Flex's API is ASP.NET: JSON keys bind case-insensitively. Every model here maps incoming keys to its
fields ignoring case and underscores; :func:`parse` answers a body that does not validate with the
ASP.NET error map of :func:`flex_provider.sandbox.problems.validation_errors`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from flex_provider.sandbox.problems import validation_errors


def _norm(key: str) -> str:
    return key.replace("_", "").lower()


class FlexModel(BaseModel):
    """Base: camelCase aliases, keys matched ignoring case and underscores, unknown keys ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", coerce_numbers_to_str=True
    )

    @model_validator(mode="before")
    @classmethod
    def _case_insensitive_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        names = {_norm(f.alias or n): (f.alias or n) for n, f in cls.model_fields.items()}
        out: dict[str, Any] = {}
        for key, value in data.items():
            target = names.get(_norm(key), key) if isinstance(key, str) else key
            out.setdefault(target, value)
        return out


def required_text(value: str) -> str:
    """Field validator: a required text must not be blank (ASP.NET's ``[Required]`` refuses ``""``)."""
    if not value.strip():
        raise ValueError("empty")
    return value


class TokenRequest(FlexModel):
    """``POST /oauth2/token`` body."""

    app_key: str = Field(alias="AppKey")
    app_secret: str = Field(alias="AppSecret")


class CreditCard(FlexModel):
    """``payment_method.credit_card`` of ``/tokenize`` (snake_case per current docs; camelCase accepted)."""

    model_config = ConfigDict(alias_generator=None)
    first_name: str
    last_name: str
    number: str
    verification_value: str | None = None
    month: str
    year: str
    company: str | None = None

    @field_validator("number")
    @classmethod
    def _pan(cls, value: str) -> str:
        digits = value.replace(" ", "").replace("-", "")
        if not digits.isdigit() or not 12 <= len(digits) <= 19:
            raise ValueError("not a card number")
        return digits

    @field_validator("month")
    @classmethod
    def _month(cls, value: str) -> str:
        if not value.isdigit() or not 1 <= int(value) <= 12:
            raise ValueError("bad month")
        return f"{int(value):02d}"

    @field_validator("year")
    @classmethod
    def _year(cls, value: str) -> str:
        if not (value.isdigit() and len(value) == 4):
            raise ValueError("bad year")
        return value

    _names = field_validator("first_name", "last_name")(required_text)


class TokenizePaymentMethod(FlexModel):
    """``payment_method`` of ``/tokenize``."""

    model_config = ConfigDict(alias_generator=None)
    email: str | None = None
    sense_key: str | None = None
    credit_card: CreditCard


class TokenizeRequest(FlexModel):
    """``POST /tokenize`` body."""

    model_config = ConfigDict(alias_generator=None)
    payment_method: TokenizePaymentMethod


class Transaction(FlexModel):
    """``transaction`` of /evaluate and /transmit; ``amount`` in cents."""

    id: str
    amount: int = Field(ge=0)
    currency: str = Field(pattern=r"^[A-Za-z]{3}$")
    timestamp_utc: datetime | None = None
    timezone_utc_offset: float | None = None
    response_code: str | None = None
    response_description: str | None = None
    response_status: str | None = None
    response_code_source: str | None = None
    processor_name: str | None = None
    avs_result_code: str | None = None
    cvv_result_code: str | None = None
    cavv_result_code: str | None = None

    _id = field_validator("id")(required_text)


class PaymentMethod(FlexModel):
    """``paymentMethod``: a Flex token in ``cardNumber`` with ``token: true`` (or BIN/last4 only)."""

    card_number: str | None = None
    token: bool | None = None
    holder_name: str | None = None
    card_type: str | None = None
    card_brand: str | None = None
    expiration_month: int | None = Field(default=None, ge=1, le=12)
    expiration_year: int | None = None
    card_bin_number: str | None = None
    card_last4_digits: str | None = None


class Payer(FlexModel):
    """``payer``."""

    id: str | None = None
    email: str | None = None
    phone: str | None = None


class Address(FlexModel):
    """``billingInformation`` / ``shippingInformation``."""

    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    country: str | None = None
    country_code: str | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    state: str | None = None
    city: str | None = None
    zip_code: str | None = None


class _OrderRequest(FlexModel):
    is_declined: bool
    mid: str | None = None
    order_id: str
    is_mit: bool = Field(alias="isMIT")
    is_recurring: bool | None = None
    sequence_number: str | None = None
    order_source: str | None = None
    site_id: str | None = None
    site_url: str | None = None
    correlation_id: str | None = None
    transaction: Transaction
    payer: Payer | None = None
    billing_information: Address | None = None
    shipping_information: Address | None = None
    subscription: dict[str, Any] | None = None
    order_items: list[dict[str, Any]] | None = None
    additional_fields: list[dict[str, Any]] | None = None

    _order_id = field_validator("order_id")(required_text)


class EvaluateRequest(_OrderRequest):
    """``POST /evaluate`` body (also one evaluate batch row)."""

    idempotency_key: uuid.UUID
    transaction_type: str | None = None
    expiry_date_utc: datetime | None = None
    customer_ip: str | None = None
    sense_key: str | None = None
    payment_method: PaymentMethod

    @field_validator("transaction_type")
    @classmethod
    def _tx_type(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.upper() not in ("AUTHORIZATION", "PURCHASE"):
            raise ValueError("bad transaction type")
        return value.upper()


class TransmitRequest(_OrderRequest):
    """``POST /transmit`` body (also one transmit batch row)."""

    idempotency_key: uuid.UUID | None = None
    payment_method: PaymentMethod | None = None


class RefundRequest(FlexModel):
    """``POST /orders/{id}/refund``: ``amountToRefund`` in major units (its decimals are checked against the
    order's currency, see ``sandbox/currencies.py``)."""

    amount_to_refund: Decimal = Field(gt=0)
    refund_message: str | None = None
    idempotency_key: uuid.UUID | None = None
    mid: str | None = None
    is_partial_refund: bool | None = None
    transaction_id: str | None = None


class CancelRequest(FlexModel):
    """``POST /orders/{id}/cancel`` and ``/external-cancel``: body ``{}`` or an idempotency key."""

    idempotency_key: uuid.UUID | None = None


class CaptureRequest(FlexModel):
    """``POST /capture``: ``amount`` in cents."""

    idempotency_key: uuid.UUID
    order_id: uuid.UUID
    amount: int = Field(gt=0)
    currency: str = Field(pattern=r"^[A-Za-z]{3}$")


def parse(model: type[FlexModel], body: Any) -> tuple[FlexModel | None, dict[str, list[str]] | None]:
    """Validate ``body``; returns ``(model, None)`` or ``(None, asp_net_errors)``."""
    try:
        return model.model_validate(body), None
    except ValidationError as exc:
        return None, validation_errors(exc)
