"""Request and answer of the demo merchant backend (not Flex): ``POST /demo/checkout/cards``.

The demo checkout page (``flex_provider/sandbox/checkout.py``) stands for the merchant's own page and
backend; these models are the merchant's API, strict where Flex's are lenient.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from flex_provider.sandbox.cards import holds_card_number


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
