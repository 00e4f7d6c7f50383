"""
The flat source columns of a batch (docs/batch-files.md "Source columns") and the row layout the models give.

``SOURCE_COLUMNS`` says where each source column goes in the /evaluate or /transmit body (a wire path).
Everything else about a field (its wire name, type, whether it is required, its length, range and pattern
constraints, and its position in the body) is read from the pydantic request models, so the column
checks and the column encoder follow the models without a second description of the row.
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel

from flex_provider.models.api import EvaluateRequest, TransmitRequest

Kind = Literal["evaluate", "transmit"]

_ADDRESS_FIELDS = (
    "first_name",
    "last_name",
    "phone",
    "country",
    "country_code",
    "address_line1",
    "address_line2",
    "state",
    "city",
    "zip_code",
)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


#: source column -> wire path in the request body.
SOURCE_COLUMNS: dict[str, tuple[str, ...]] = {
    "order_id": ("orderId",),
    "order_source": ("orderSource",),
    "is_mit": ("isMIT",),
    "is_recurring": ("isRecurring",),
    "site_id": ("siteId",),
    "site_url": ("siteUrl",),
    "customer_ip": ("customerIp",),
    "sense_key": ("senseKey",),
    "correlation_id": ("correlationId",),
    "transaction_id": ("transaction", "id"),
    "amount_cents": ("transaction", "amount"),
    "currency": ("transaction", "currency"),
    "transaction_at": ("transaction", "timestampUtc"),
    "timezone_utc_offset": ("transaction", "timezoneUtcOffset"),
    **{
        c: ("transaction", _camel(c))
        for c in (
            "response_code",
            "response_description",
            "response_status",
            "response_sub_status",
            "response_code_source",
            "processor_name",
            "avs_result_code",
            "cvv_result_code",
            "cavv_result_code",
            "transaction_type",
            "dynamic_descriptor",
            "card_not_present",
        )
    },
    "payer_id": ("payer", "id"),
    "payer_email": ("payer", "email"),
    "payer_phone": ("payer", "phone"),
    "payer_birthdate": ("payer", "birthdate"),
    **{f"billing_{f}": ("billingInformation", _camel(f)) for f in _ADDRESS_FIELDS},
    **{f"shipping_{f}": ("shippingInformation", _camel(f)) for f in _ADDRESS_FIELDS},
    "card_token": ("paymentMethod", "cardNumber"),
    "card_holder_name": ("paymentMethod", "holderName"),
    "card_type": ("paymentMethod", "cardType"),
    "card_brand": ("paymentMethod", "cardBrand"),
    "card_country": ("paymentMethod", "cardCountry"),
    "card_issuer": ("paymentMethod", "cardIssuer"),
    "card_level": ("paymentMethod", "cardLevel"),
    "card_fingerprint": ("paymentMethod", "cardFingerprint"),
    "card_bin": ("paymentMethod", "cardBinNumber"),
    "card_last4": ("paymentMethod", "cardLast4Digits"),
    "exp_month": ("paymentMethod", "expirationMonth"),
    "exp_year": ("paymentMethod", "expirationYear"),
    "subscription_id": ("subscription", "subscriptionId"),
    "subscription_interval": ("subscription", "interval"),
    "subscription_price_cents": ("subscription", "price"),
    "subscription_currency": ("subscription", "currency"),
    "payment_number": ("subscription", "paymentNumber"),
    "total_payments": ("subscription", "totalPayments"),
    "expiry_date_utc": ("expiryDateUtc",),
}
#: Accepted synonyms: a decline extract naturally calls the transaction time ``declined_at``.
COLUMN_ALIASES = {"declined_at": "transaction_at", "approved_at": "transaction_at"}
#: Columns the writer reads but does not copy into the body as they are.
CONTROL_COLUMNS = frozenset({"mid", "idempotency_key", "sequence_number"})
#: An integer ``card_last4`` lost its leading zeros in SQL: it is zero-padded to four digits.
ZERO_PADDED = {"card_last4": 4}
#: Money fields (minor units) and currency fields: their problems have one reason each.
AMOUNT_COLUMNS = frozenset({"amount_cents", "subscription_price_cents"})
CURRENCY_COLUMNS = frozenset({"currency", "subscription_currency"})


@dataclass(frozen=True)
class Field:
    """One leaf of the request body, as the model describes it."""

    column: str  # source column (canonical name)
    path: tuple[str, ...]  # wire path
    type: str  # "str" | "int" | "float" | "bool" | "datetime"
    required: bool  # the leaf must be given (its parent object is required too)
    min_length: int | None = None
    max_length: int | None = None
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    pattern: str | None = None


@dataclass(frozen=True)
class Layout:
    """
    The body of one kind in model order: ``keys`` lists (wire key, leaf field or nested keys) as the
    model serialises them; ``fields`` the leaves with a source column, in that order.
    """

    kind: Kind
    model: type[BaseModel]
    keys: tuple[tuple[str, Any], ...]
    fields: tuple[Field, ...]

    def field(self, column: str) -> Field | None:
        return next((f for f in self.fields if f.column == column), None)


_SCALARS = {str: "str", int: "int", float: "float", bool: "bool", datetime: "datetime"}


def _unwrap(annotation: Any) -> Any:
    """``X | None`` -> ``X``."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def _constraints(metadata: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in metadata:
        for name in ("min_length", "max_length", "ge", "gt", "le", "pattern"):
            value = getattr(item, name, None)
            if value is not None:
                out[name] = value
    return out


@cache
def layout(kind: Kind) -> Layout:
    """The body layout of ``evaluate`` or ``transmit``, read from :class:`EvaluateRequest` / :class:`TransmitRequest`."""
    model: type[BaseModel] = EvaluateRequest if kind == "evaluate" else TransmitRequest
    by_path = {path: column for column, path in SOURCE_COLUMNS.items()}
    leaves: list[Field] = []

    def walk(
        cls: type[BaseModel], prefix: tuple[str, ...], parent_required: bool
    ) -> tuple[tuple[str, Any], ...]:
        keys: list[tuple[str, Any]] = []
        for name, info in cls.model_fields.items():
            alias = info.alias or name
            path = (*prefix, alias)
            inner = _unwrap(info.annotation)
            required = parent_required and info.is_required()
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                keys.append((alias, walk(inner, path, required)))
                continue
            column = by_path.get(path)
            scalar = _SCALARS.get(inner)
            if column is None or scalar is None:
                keys.append((alias, None))  # set by the writer (mid, isDeclined, ...) or never from a column
                continue
            leaf = Field(column, path, scalar, required, **_constraints(info.metadata))
            leaves.append(leaf)
            keys.append((alias, leaf))
        return tuple(keys)

    keys = walk(model, (), True)
    return Layout(kind, model, keys, tuple(leaves))


def canonical(column: str) -> str:
    """The source column a given column name stands for (``declined_at`` -> ``transaction_at``)."""
    return COLUMN_ALIASES.get(column, column)


def known(column: str, kind: Kind) -> bool:
    """True when ``column`` feeds a body field of ``kind`` (control columns are not body fields)."""
    return layout(kind).field(canonical(column)) is not None


#: Python's ``str.strip()`` whitespace, so stripping a column strips what stripping a value would.
PY_WHITESPACE = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())
INT_TEXT = re.compile(r"^\s*-?\d+\s*$")


def csv_columns(kind: Kind = "transmit") -> tuple[str, ...]:
    """The transmit CSV columns: the /transmit fields flattened with ``.``, in source-column order."""
    lay = layout(kind)
    return (
        "sequenceNumber",
        "mid",
        "orderId",
        "isDeclined",
        "isMIT",
        "isRecurring",
        "idempotencyKey",
        *(
            ".".join(path)
            for col, path in SOURCE_COLUMNS.items()
            if col not in {"order_id", "is_mit", "is_recurring"} and lay.field(col) is not None
        ),
        "paymentMethod.token",
    )


CSV_COLUMNS: tuple[str, ...] = csv_columns()
