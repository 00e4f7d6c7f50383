"""The SenseJS wire payload (ours): what the sandbox's ``widget.js`` posts to ``/sense/collect`` and gets back.

Flex documents the SenseJS snippet and that the key travels as ``senseKey`` / ``payment_method.sense_key``,
not the wire format between widget.js and Flex: the payload below and the key format are the sandbox's own.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from flex_provider.sandbox.schemas import FlexModel, required_text


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

    _mid = field_validator("mid")(required_text)

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
