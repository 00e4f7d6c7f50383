"""Extract a templated SQL query from the merchant DB into evaluate/transmit batch files."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from flex_provider.operators.common import (
    FLEX_CONN_ID,
    LEDGER_CONN_ID,
    MERCHANT_CONN_ID,
    _as_date,
    _mid,
    _read_sql,
)

if TYPE_CHECKING:
    from airflow.sdk import Context
    from sqlalchemy import Engine


class WriteBatchOperator(BaseOperator):
    """
    Run a templated SQL query on the merchant DB and stream its rows into evaluate/transmit batch files.

    The query must return the flat source columns of docs/batch-files.md (``order_id``, ``amount_cents``,
    ``currency``, ``card_token``...). Rows are streamed as Arrow record batches (ADBC on PostgreSQL and
    SQLite, a server-side cursor elsewhere) in chunks of ``chunk_size`` and handed to
    :class:`~flex_provider.batch.writer.BatchWriter`, which checks and encodes them a column at a time;
    memory stays flat.
    Orders the ledger already shipped on another business date are rejected (``already_shipped``); a
    rerun of the same day rebuilds the same files byte for byte, so the shipper skips them.

    :param sql: SQL text or a ``.sql`` file (templated; bind parameters like ``:window_start``).
    :param parameters: bind parameters for the query (templated).
    :param business_date: the business date of the batch (templated, ``YYYY-MM-DD``).
    :param out_dir: local folder for the files, rejects and manifest (templated).
    :param kind: ``evaluate`` or ``transmit``.
    :param merchant_conn_id: SQL connection of the merchant database.
    :param ledger_conn_id: SQL connection of the ledger (may be the same database).
    :param flex_conn_id: ``flex`` connection whose ``mid`` extra is used when ``mid`` is not given.
    :param mid: the merchant id (templated).
    :param rows_per_file: at most 2000.
    :param chunk_size: rows fetched per round trip.
    :param row_limit: stop after this many rows (templated; None = all).
    :param expiry_days: evaluate only: days after the business date until the default ``expiryDateUtc``.
    :param file_format: ``json``, or ``csv`` for transmit.
    """

    template_fields: Sequence[str] = (
        "sql",
        "parameters",
        "business_date",
        "out_dir",
        "mid",
        "row_limit",
        "merchant_conn_id",
        "ledger_conn_id",
    )
    template_ext: Sequence[str] = (".sql",)
    template_fields_renderers: ClassVar[dict[str, str]] = {"sql": "sql", "parameters": "json"}
    ui_color = "#fdf2e9"

    def __init__(
        self,
        *,
        sql: str,
        business_date: str | date,
        out_dir: str,
        parameters: Mapping[str, Any] | None = None,
        kind: str = "evaluate",
        merchant_conn_id: str = MERCHANT_CONN_ID,
        ledger_conn_id: str = LEDGER_CONN_ID,
        flex_conn_id: str = FLEX_CONN_ID,
        mid: str | None = None,
        rows_per_file: int = 2000,
        chunk_size: int = 20_000,
        row_limit: int | str | None = None,
        expiry_days: int = 21,
        file_format: str = "json",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sql = sql
        self.parameters = parameters
        self.business_date = business_date
        self.out_dir = out_dir
        self.kind = kind
        self.merchant_conn_id = merchant_conn_id
        self.ledger_conn_id = ledger_conn_id
        self.flex_conn_id = flex_conn_id
        self.mid = mid
        self.rows_per_file = rows_per_file
        self.chunk_size = chunk_size
        self.row_limit = row_limit
        self.expiry_days = expiry_days
        self.file_format = file_format

    def _chunks(self, engine: Engine) -> Iterator[Any]:
        """The query's rows as Arrow tables of ``chunk_size`` rows (ADBC on PostgreSQL and SQLite)."""
        from flex_provider.batch.source import arrow_chunks

        limit = int(self.row_limit) if self.row_limit not in (None, "", "None") else None
        return arrow_chunks(
            engine, _read_sql(self.sql), dict(self.parameters or {}), chunk_rows=self.chunk_size, limit=limit
        )

    def execute(self, context: Context) -> dict[str, Any]:
        from flex_provider.batch.ledger import FlexLedger
        from flex_provider.batch.writer import BatchWriter
        from flex_provider.merchant.db import engine_for_conn

        business_date = _as_date(self.business_date)
        mid = _mid(self.mid, self.flex_conn_id)
        ledger = FlexLedger(self.ledger_conn_id)
        # Files recorded but never uploaded (a crash before the upload) are rebuilt from scratch; files
        # Flex may have seen keep their numbers and content, and new rows of the day go into new files.
        discarded = ledger.discard_unshipped_files(mid, self.kind, business_date)
        if discarded:
            self.log.info("Rebuilding %d file(s) recorded but never uploaded: %s", len(discarded), discarded)
        first_number = ledger.next_file_number(mid, self.kind, business_date)
        writer = BatchWriter(
            kind=self.kind,  # type: ignore[arg-type]
            mid=mid,
            business_date=business_date,
            out_dir=self.out_dir,
            rows_per_file=self.rows_per_file,
            file_format=self.file_format,  # type: ignore[arg-type]
            default_expiry=timedelta(days=self.expiry_days + 1) if self.kind == "evaluate" else None,
            # Any recorded row counts, this day's included: a rerun never writes a shipped order again.
            already_shipped=lambda ids: ledger.already_shipped(mid, self.kind, ids),
            first_file_number=first_number,
        )
        engine = engine_for_conn(self.merchant_conn_id)
        try:
            summary = writer.write(self._chunks(engine))
        finally:
            engine.dispose()
        self.log.info(
            "%s %s: extracted %d, written %d in %d file(s), rejected %d %s (rejects: %s)",
            self.kind,
            business_date,
            summary["extracted"],
            summary["written"],
            len(summary["files"]),
            summary["rejected"],
            summary["rejected_by_reason"],
            summary["rejects_file"],
        )
        summary["first_file_number"] = first_number
        # Files of this day Flex rejected as a whole (e.g. an expired token): the ship step resends them.
        summary["resend"] = [f["name"] for f in ledger.rejected_files(mid, self.kind, business_date)]
        if summary["resend"]:
            self.log.warning("Flex rejected %s as a whole; they will be uploaded again", summary["resend"])
        return summary


class ExtractDeclinesOperator(WriteBatchOperator):
    """Extract the day's declined MIT payments into evaluate batch files (``WriteBatchOperator``, kind evaluate)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("kind", "evaluate")
        super().__init__(**kwargs)
