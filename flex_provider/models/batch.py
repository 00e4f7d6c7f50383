"""
Pydantic models of the SFTP batch files (docs/batch-files.md).

Strict about structure (required keys, types, ``fileType``), tolerant of extra fields anywhere, so a
new key Flex adds to an outbound file does not break parsing. Outbound files are camelCase on the wire;
the local-only manifest and rejects files are snake_case.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from flex_provider.models.limits import CURRENCY_LENGTH, FLEX_ID_MAX, ORDER_ID_MAX

MAX_ROWS_PER_FILE = 2000
SCHEMA_VERSION = 1

BatchKind = Literal["evaluate", "transmit"]


class _WireModel(BaseModel):
    """camelCase on the wire, extra keys ignored; a number where text belongs is its text (``"orderId": 12345``)."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", coerce_numbers_to_str=True
    )

    def to_wire(self) -> dict[str, Any]:
        """JSON-ready dict with the wire (camelCase) names."""
        return self.model_dump(mode="json", by_alias=True)


class BatchHeader(_WireModel):
    """Line 1 of an inbound JSON batch file (everything but ``rows``)."""

    file_type: BatchKind
    schema_version: Literal[1] = SCHEMA_VERSION
    mid: str = Field(min_length=1)
    business_date: date
    file_number: int = Field(ge=1, le=9999)
    row_count: int = Field(ge=0, le=MAX_ROWS_PER_FILE)
    expiry_date_utc: datetime | None = None
    authorization_token: str = ""


class RowError(_WireModel):
    """One error Flex reports on a row of an ack file."""

    field: str | None = None
    message: str


class AckRow(_WireModel):
    """One row of an acknowledgement file."""

    sequence_number: str
    order_id: str = Field(min_length=1, max_length=ORDER_ID_MAX)
    order_session_key: str | None = Field(default=None, max_length=FLEX_ID_MAX)
    status: Literal["SUBMITTED", "REJECTED", "SUCCESS"]
    errors: list[RowError] = Field(default_factory=list)


class AckHeader(_WireModel):
    """Envelope of an acknowledgement file (line 1)."""

    file_type: Literal["ack"]
    inbound_file: str = Field(min_length=1)
    mid: str = Field(min_length=1)
    received_at_utc: datetime
    status: Literal["PROCESSED", "REJECTED"]
    row_count: int = Field(ge=0)
    accepted: int = Field(ge=0)
    rejected: int = Field(ge=0)
    file_errors: list[Any] = Field(default_factory=list)


class AckFile(AckHeader):
    """A whole acknowledgement file (at most 2000 rows, so it fits in memory)."""

    rows: list[AckRow] = Field(default_factory=list)


ResultStatus = Literal["APPROVED", "EXPIRED", "CANCELLED", "REFUNDED"]


class ResultRow(_WireModel):
    """One final outcome in a result file."""

    order_id: str = Field(min_length=1, max_length=ORDER_ID_MAX)
    order_session_key: str | None = Field(default=None, max_length=FLEX_ID_MAX)
    status: ResultStatus
    confirmation_id: str | None = Field(default=None, max_length=FLEX_ID_MAX)
    amount: int | None = None
    currency: str | None = Field(default=None, max_length=CURRENCY_LENGTH)
    timestamp_utc: datetime | None = None


class ResultHeader(_WireModel):
    """Envelope of a result file (line 1)."""

    file_type: Literal["result"]
    mid: str = Field(min_length=1)
    generated_at_utc: datetime
    file_number: int = Field(ge=1)
    row_count: int = Field(ge=0)


class ResultFile(ResultHeader):
    """A whole result file; for very large files use the streaming reader instead."""

    rows: list[ResultRow] = Field(default_factory=list)


class RejectRow(BaseModel):
    """One line of the local rejects CSV; ``reason`` never holds the offending value."""

    model_config = ConfigDict(extra="ignore")

    source_row: int = Field(ge=1, description="1-based position of the row in the extracted input")
    order_id: str | None = None
    field: str
    reason: str


class ManifestEntry(BaseModel):
    """One batch file in the manifest."""

    model_config = ConfigDict(extra="ignore")

    name: str
    rows: int = Field(ge=0, le=MAX_ROWS_PER_FILE)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    rows_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    first_order_id: str | None = None
    last_order_id: str | None = None


class ManifestTotals(BaseModel):
    """Row counts of one run; ``extracted == written + rejected`` always."""

    model_config = ConfigDict(extra="ignore")

    extracted: int = Field(ge=0)
    written: int = Field(ge=0)
    rejected: int = Field(ge=0)


class Manifest(BaseModel):
    """The local manifest, written last: what a run produced, for the shipper and the ledger."""

    model_config = ConfigDict(extra="ignore")

    schema_version: Literal[1] = SCHEMA_VERSION
    kind: BatchKind
    mid: str
    business_date: date
    file_format: Literal["json", "csv"] = "json"
    files: list[ManifestEntry] = Field(default_factory=list)
    rejects_file: str
    rejects_sha256: str | None = None
    totals: ManifestTotals
