"""/oauth2/token and /tokenize: the access token, the card to vault and the vaulted card."""

from __future__ import annotations

from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_serializer,
)

from flex_provider.models.api.base import FlexEnvelope


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
