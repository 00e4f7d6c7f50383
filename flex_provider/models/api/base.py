"""What every Flex payload shares: the request/response bases, the answer envelope, problem details."""

from __future__ import annotations

from typing import Any

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
)
from pydantic.alias_generators import to_camel


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
