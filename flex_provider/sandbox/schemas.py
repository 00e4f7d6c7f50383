"""Request models and error bodies of the Flex sandbox (its own; it never trusts the provider's models).

Flex's API is ASP.NET: JSON keys bind case-insensitively and invalid bodies get HTTP 400 "problem
details" with PascalCase field paths. The models here reproduce that: every model maps incoming keys
to its fields ignoring case and underscores, and :func:`validation_errors` turns a pydantic error into
``{"Transaction.Amount": ["The Amount field is required."]}``.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from flex_provider.sandbox.cards import holds_card_number

VALIDATION_TITLE = "One or more validation errors occurred."


def new_trace_id() -> str:
    """A W3C traceparent-like id as ASP.NET puts it in problem details: ``00-<32hex>-<16hex>-01``."""
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def problem(status: int, errors: dict[str, list[str]] | None = None, *, title: str | None = None,
            detail: str | None = None, trace_id: str | None = None) -> dict[str, Any]:
    """An ASP.NET problem-details body (400 validation shape when ``errors`` is given)."""
    titles = {400: VALIDATION_TITLE, 401: "Unauthorized", 404: "Not Found", 409: "Conflict",
              429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}
    body: dict[str, Any] = {
        "type": f"https://tools.ietf.org/html/rfc9110#section-15.{5 if status < 500 else 6}",
        "title": title or titles.get(status, "Error"),
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if errors is not None:
        body["errors"] = errors
    body["traceId"] = trace_id or new_trace_id()
    return body


def _norm(key: str) -> str:
    return key.replace("_", "").lower()


def _pascal(part: str) -> str:
    if "_" in part:
        return "".join(p[:1].upper() + p[1:] for p in part.split("_") if p)
    return part[:1].upper() + part[1:]


def validation_errors(exc: ValidationError) -> dict[str, list[str]]:
    """Map a pydantic error to ASP.NET's ``{PascalCase.Path: [message, ...]}``."""
    out: dict[str, list[str]] = {}
    for err in exc.errors():
        parts: list[str] = []
        for item in err["loc"]:
            if isinstance(item, int):
                if parts:
                    parts[-1] += f"[{item}]"
                else:
                    parts.append(f"[{item}]")
            else:
                parts.append(_pascal(str(item)))
        path = ".".join(parts) or "$"
        last = parts[-1].split("[")[0] if parts else "body"
        inp = err.get("input")
        if err["type"] == "missing" or inp is None or inp == "":
            msg = f"The {last} field is required."
        elif err["type"] == "model_type" and not parts:
            path, msg = "$", "The request body must be a JSON object."
        else:
            msg = f"The field {last} is invalid."
        out.setdefault(path, []).append(msg)
    return out


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


def _required_text(value: str) -> str:
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

    _names = field_validator("first_name", "last_name")(_required_text)


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

    _id = field_validator("id")(_required_text)


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

    _order_id = field_validator("order_id")(_required_text)


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


# --------------------------------------------------------------------------------------------------- SenseJS (ours)
# Flex documents the SenseJS snippet and that the key travels as ``senseKey`` / ``payment_method.sense_key``,
# not the wire format between widget.js and Flex: the payload below and the key format are the sandbox's own.


class SenseScreen(FlexModel):
    """``screen`` of a sense payload: what ``window.screen`` and ``devicePixelRatio`` say."""

    width: int = Field(gt=0, le=100_000)
    height: int = Field(gt=0, le=100_000)
    avail_width: int | None = Field(default=None, ge=0, le=100_000)
    avail_height: int | None = Field(default=None, ge=0, le=100_000)
    color_depth: int | None = Field(default=None, gt=0, le=64)
    pixel_ratio: float | None = Field(default=None, gt=0, le=16)


class SenseTiming(FlexModel):
    """``timing`` of a sense payload: page-load milestones in ms since navigation start (loading fingerprint)."""

    dom_interactive_ms: float | None = Field(default=None, ge=0, le=3_600_000)
    dom_content_loaded_ms: float | None = Field(default=None, ge=0, le=3_600_000)
    load_ms: float = Field(ge=0, le=3_600_000)
    widget_ms: float = Field(ge=0, le=3_600_000)


class SenseCollectRequest(FlexModel):
    """``POST /sense/collect`` (ours): device, timezone and load signals widget.js sends once per page."""

    mid: str
    site_id: str | None = None
    timezone: str = Field(min_length=1, max_length=64)
    timezone_offset: int = Field(ge=-840, le=840, description="minutes, as Date.getTimezoneOffset()")
    screen: SenseScreen
    user_agent: str = Field(min_length=1, max_length=1024)
    language: str | None = Field(default=None, max_length=35)
    languages: list[str] | None = Field(default=None, max_length=20)
    page: str | None = Field(default=None, max_length=2048, description="origin + path; never the query")
    timing: SenseTiming
    widget_version: str | None = Field(default=None, max_length=16)

    _mid = field_validator("mid")(_required_text)

    @field_validator("page")
    @classmethod
    def _no_query(cls, value: str | None) -> str | None:
        """Keep origin and path only: a query string may carry order data, which SenseJS never sends."""
        if value is None:
            return None
        return value.split("?", 1)[0].split("#", 1)[0]


class SenseCollectResponse(BaseModel):
    """Answer of ``POST /sense/collect``: the session key the page forwards (``senseKey``, a GUID: ours)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)
    sense_key: str


# --------------------------------------------------------------------------------------------------- merchant demo
# Not Flex: the demo checkout page stands for the merchant's own page and backend (flex_provider/sandbox/checkout.py).


class CheckoutCardRequest(BaseModel):
    """``POST /demo/checkout/cards``: what the merchant's page sends its backend after /tokenize (never a PAN).

    Strict (unknown keys refused) because it is the merchant's own API: any value that looks like a card
    number is refused as well, so a PAN cannot reach the merchant DB through this endpoint.
    """

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")
    token: str = Field(pattern=r"^[A-Za-z0-9_-]{8,128}$", description="Flex token from /tokenize")
    sense_key: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{8,64}$")
    card_bin: str = Field(pattern=r"^\d{6,8}$")
    card_last4: str = Field(pattern=r"^\d{4}$")
    exp_month: int = Field(ge=1, le=12)
    exp_year: int = Field(ge=2000, le=2100)
    card_brand: str | None = Field(default=None, max_length=16)
    card_type: str | None = Field(default=None, max_length=16)
    holder_name: str | None = Field(default=None, max_length=128)
    first_name: str | None = Field(default=None, max_length=64)
    last_name: str | None = Field(default=None, max_length=64)
    email: str | None = Field(default=None, max_length=255)
    subscription_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    plan_code: str = Field(default="plus-monthly", max_length=32)
    price_cents: int = Field(default=1999, gt=0)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")

    @field_validator("*", mode="before")
    @classmethod
    def _no_pan(cls, value: Any) -> Any:
        if holds_card_number(value):
            raise ValueError("looks like a card number: send the Flex token, BIN and last 4 only")
        return value


class CheckoutCardResponse(BaseModel):
    """Answer of ``POST /demo/checkout/cards``: whether the merchant DB got the card, and where."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)
    stored: bool
    card_token_id: int | None = None
    subscription_id: str | None = None
    customer_id: str | None = None
    message: str
