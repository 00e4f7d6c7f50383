"""Upload a day's batch files to Flex's inbound folder, each at most once (from a manifest, or in one task)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from flex_provider.operators.common import (
    FLEX_CONN_ID,
    LEDGER_CONN_ID,
    MERCHANT_CONN_ID,
    SFTP_CONN_ID,
    as_date,
    read_sql,
    resolve_mid,
)

if TYPE_CHECKING:
    from airflow.sdk import Context


class ShipBatchOperator(BaseOperator):
    """
    Upload the batch files of a manifest to Flex's inbound folder, each at most once.

    Files the ledger marks ``uploaded`` or ``acknowledged`` are skipped. The others are recorded in the
    ledger (file and rows), a bearer token is fetched just before the upload (tokens live 10 minutes),
    and the files go over ``channels`` SFTP channels of one SSH connection as ``<name>.part`` + rename
    with the token written into line 1, while the ledger records the next ones. Each upload is
    recorded in the ledger right after it.

    A file Flex rejected as a whole (its ack says ``REJECTED``: an expired or bad token, an unreadable
    file) is the one exception: it is uploaded again, from the same local file (checked against the
    ledger's sha256) with a fresh token, and its old ack is forgotten so the new one is read. With
    ``files=None`` every rejected file of the manifest's day is resent; a mapped task gets them through
    ``files`` (the extract step lists them under ``resend``).

    **One task** (``sql`` instead of ``manifest``): the query's rows are extracted, checked, written,
    recorded, uploaded and marked in one pipeline (:class:`~flex_provider.batch.pipeline.ShipPipeline`:
    file k is on the wire while file k+1 is built), leaving the same manifest, rejects file and ledger
    records as ``WriteBatchOperator`` followed by this operator with its manifest; the return value is
    the writer's summary (``manifest``, ``files``, ``resend``, ``mid``...) plus ``uploaded``, ``resent``,
    ``skipped`` and ``rows``. The day's files Flex rejected as a whole are sent again in the same run.

    :param manifest: path of the manifest written by the writer (templated).
    :param files: only these file names (templated; for mapped fan-out): names of the manifest, or
        rejected files of the manifest's day lying next to it. None = all of both.
    :param ledger_conn_id: SQL connection of the ledger.
    :param flex_conn_id: ``flex`` connection (for the token).
    :param sftp_conn_id: ``sftp`` connection of the exchange.
    :param transform_token: test hook: called with the bearer token before it goes into line 1.
    :param channels: SFTP channels (uploads in flight) on the one SSH connection.
    :param sql: one task: SQL text or a ``.sql`` file (templated; bind parameters like ``:window_start``)
        returning the flat source columns (docs/batch-files.md).
    :param parameters: one task: bind parameters of ``sql`` (templated).
    :param business_date: one task: the batch's day (templated, ``YYYY-MM-DD``).
    :param out_dir: one task: local folder for the files, rejects and manifest (templated).
    :param kind: one task: ``evaluate`` or ``transmit``.
    :param merchant_conn_id: one task: SQL connection of the merchant database.
    :param mid: one task: the merchant id (templated; default the ``flex`` connection's ``mid`` extra).
    :param rows_per_file: one task: at most 2000.
    :param chunk_size: one task: rows fetched per chunk.
    :param row_limit: one task: stop after this many rows (templated; None = all).
    :param expiry_days: one task, evaluate: days after the business date until ``expiryDateUtc``.
    :param file_format: one task: ``json``, or ``csv`` for transmit.
    """

    template_fields: Sequence[str] = (
        "manifest",
        "files",
        "ledger_conn_id",
        "flex_conn_id",
        "sftp_conn_id",
        "sql",
        "parameters",
        "business_date",
        "out_dir",
        "mid",
        "row_limit",
        "merchant_conn_id",
    )
    template_ext: Sequence[str] = (".sql",)
    template_fields_renderers: ClassVar[dict[str, str]] = {"sql": "sql", "parameters": "json"}
    ui_color = "#e9f7ef"

    def __init__(
        self,
        *,
        manifest: str | None = None,
        files: Sequence[str] | None = None,
        ledger_conn_id: str = LEDGER_CONN_ID,
        flex_conn_id: str = FLEX_CONN_ID,
        sftp_conn_id: str = SFTP_CONN_ID,
        transform_token: Callable[[str], str] | None = None,
        channels: int = 4,
        sql: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        business_date: str | date | None = None,
        out_dir: str | None = None,
        kind: str = "evaluate",
        merchant_conn_id: str = MERCHANT_CONN_ID,
        mid: str | None = None,
        rows_per_file: int = 2000,
        chunk_size: int = 20_000,
        row_limit: int | str | None = None,
        expiry_days: int = 21,
        file_format: str = "json",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (manifest is None) == (sql is None):
            raise ValueError("ShipBatchOperator takes a manifest, or sql (with business_date and out_dir)")
        if sql is not None and (business_date is None or out_dir is None):
            raise ValueError("ShipBatchOperator(sql=...) needs business_date and out_dir")
        self.sql = sql
        self.parameters = parameters
        self.business_date = business_date
        self.out_dir = out_dir
        self.kind = kind
        self.merchant_conn_id = merchant_conn_id
        self.mid = mid
        self.rows_per_file = rows_per_file
        self.chunk_size = chunk_size
        self.row_limit = row_limit
        self.expiry_days = expiry_days
        self.file_format = file_format
        self.manifest = manifest
        self.files = files
        self.ledger_conn_id = ledger_conn_id
        self.flex_conn_id = flex_conn_id
        self.sftp_conn_id = sftp_conn_id
        self.transform_token = transform_token
        self.channels = channels

    def execute(self, context: Context) -> dict[str, Any]:
        if self.sql is not None:
            return self._ship_query()
        return self._ship_manifest()

    def _fresh_token(self) -> str:
        """A bearer token fetched now, never a cached one (Flex checks line 1 when it picks the file up)."""
        from flex_provider.hooks.api import FlexApiHook

        with FlexApiHook(self.flex_conn_id) as api:
            token = api.get_token(force_refresh=True)
        return self.transform_token(token) if self.transform_token is not None else token

    def _ship_query(self) -> dict[str, Any]:
        """The one-task path: extract -> check -> files -> record -> upload -> mark, overlapped."""
        from flex_provider.batch.ledger import FlexLedger
        from flex_provider.batch.pipeline import ShipPipeline
        from flex_provider.batch.source import arrow_chunks
        from flex_provider.hooks.sftp import FlexSftpHook
        from flex_provider.merchant.db import engine_for_conn

        assert self.sql is not None
        assert self.business_date is not None
        assert self.out_dir is not None
        day = as_date(self.business_date)
        mid = resolve_mid(self.mid, self.flex_conn_id)
        limit = int(self.row_limit) if self.row_limit not in (None, "", "None") else None
        pipeline = ShipPipeline(
            ledger=FlexLedger(self.ledger_conn_id),
            hook=FlexSftpHook(ssh_conn_id=self.sftp_conn_id),
            get_token=self._fresh_token,
            kind=self.kind,
            mid=mid,
            business_date=day,
            out_dir=self.out_dir,
            rows_per_file=self.rows_per_file,
            file_format=self.file_format,  # type: ignore[arg-type]
            default_expiry=timedelta(days=self.expiry_days + 1) if self.kind == "evaluate" else None,
            channels=self.channels,
        )
        engine = engine_for_conn(self.merchant_conn_id)
        try:
            chunks = arrow_chunks(
                engine,
                read_sql(self.sql),
                dict(self.parameters or {}),
                chunk_rows=self.chunk_size,
                limit=limit,
            )
            summary = pipeline.run(chunks)
        finally:
            engine.dispose()
        self.log.info(
            "%s %s: extracted %d, rejected %d %s; shipped %d file(s) (%d rows, %d sent again after a "
            "rejection), skipped %d (rejects: %s)",
            self.kind,
            day,
            summary["extracted"],
            summary["rejected"],
            summary["rejected_by_reason"],
            len(summary["uploaded"]),
            summary["rows"],
            len(summary["resent"]),
            len(summary["skipped"]),
            summary["rejects_file"],
        )
        return summary

    def _ship_manifest(self) -> dict[str, Any]:
        """The manifest's files not shipped yet and the day's files Flex rejected, pipelined."""
        from flex_provider.batch.ledger import FlexLedger
        from flex_provider.batch.manifest import first_line_transform
        from flex_provider.batch.shipment import ShipmentError, plan_shipment
        from flex_provider.batch.upload import ship_pipelined

        assert self.manifest is not None
        ledger = FlexLedger(self.ledger_conn_id)
        try:
            shipment = plan_shipment(self.manifest, ledger, self.files)
        except ShipmentError as exc:  # no retry can mend a missing or changed file
            raise AirflowFailException(str(exc)) from exc
        for name, error in shipment.rejections.items():
            self.log.warning("Uploading %s again: Flex rejected it (%s)", name, error)
        uploaded: list[str] = []
        rows = 0
        skipped = list(shipment.skipped)
        if shipment.plans:
            from flex_provider.hooks.sftp import FlexSftpHook

            # The ledger records file k+1 while file k uploads; each is marked as soon as it landed.
            outcome = ship_pipelined(
                shipment.plans,
                hook=FlexSftpHook(ssh_conn_id=self.sftp_conn_id),
                ledger=ledger,
                transform_first_line=first_line_transform(self._fresh_token()),
                channels=self.channels,
            )
            uploaded, rows = outcome.uploaded, outcome.rows
            skipped += outcome.skipped
        self.log.info(
            "Shipped %d file(s) (%d rows, %d sent again after a rejection); skipped %d already shipped",
            len(uploaded), rows, len(shipment.resend), len(skipped),
        )  # fmt: skip
        manifest = shipment.manifest
        return {
            "business_date": manifest.business_date.isoformat(),
            "kind": manifest.kind,
            "uploaded": uploaded,
            "resent": sorted(set(shipment.resend) & set(uploaded)),
            "skipped": skipped,
            "rows": rows,
        }
