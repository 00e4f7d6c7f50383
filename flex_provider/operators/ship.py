"""Upload a day's batch files to Flex's inbound folder, each at most once (from a manifest, or in one task)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import conf
from airflow.sdk.exceptions import AirflowFailException

from flex_provider.operators.common import FLEX_CONN_ID, LEDGER_CONN_ID, SFTP_CONN_ID, resolve_mid
from flex_provider.operators.extract import WriteBatchOperator, _truthy, _unset

if TYPE_CHECKING:
    from airflow.sdk import Context


class ShipBatchOperator(WriteBatchOperator):
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
    The query's arguments are :class:`~flex_provider.operators.extract.WriteBatchOperator`'s (``sql``,
    ``parameters``, ``business_date``, ``out_dir``, ``kind``, ``mid``, ``rows_per_file``, ``row_limit``,
    ``expiry_days``, ``file_format``...), with the same defaults: the business day and folder are worked
    out as the extract step does.

    :param manifest: path of the manifest written by the writer (templated).
    :param files: only these file names (templated; for mapped fan-out): names of the manifest, or
        rejected files of the manifest's day lying next to it. None = all of both.
    :param ledger_conn_id: SQL connection of the ledger.
    :param flex_conn_id: ``flex`` connection (for the token).
    :param sftp_conn_id: ``sftp`` connection of the exchange.
    :param transform_token: test hook: called with the bearer token before it goes into line 1.
    :param channels: SFTP channels (uploads in flight) on the one SSH connection.
    :param sql: one task: the extract's query (see ``WriteBatchOperator``); None with ``manifest``.
    :param dry_run: upload and record nothing (templated): one task, the files are written and the
        summary says what would go; with a manifest, the summary lists the files that would be uploaded
        (``would_upload``).
    """

    template_fields: Sequence[str] = (
        "manifest",
        "files",
        "flex_conn_id",
        "sftp_conn_id",
        *WriteBatchOperator.template_fields,
    )
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
        **kwargs: Any,
    ) -> None:
        if (manifest is None) == (sql is None):
            raise ValueError("ShipBatchOperator takes a manifest, or sql (the extract's query)")
        if kwargs.get("ship_groups") is not None:
            raise ValueError("ShipBatchOperator maps no tasks: give ship_groups to WriteBatchOperator")
        kwargs.setdefault("multiple_outputs", False)  # one summary, not the extract's XCom keys
        super().__init__(sql=sql or "", ledger_conn_id=ledger_conn_id, flex_conn_id=flex_conn_id, **kwargs)
        self.sql = sql  # type: ignore[assignment]
        self.manifest = manifest
        self.files = files
        self.sftp_conn_id = sftp_conn_id
        self.transform_token = transform_token
        self.channels = channels

    def execute(self, context: Context) -> dict[str, Any]:
        if _truthy(self.dry_run):
            return self._dry_run(context)
        if self.sql is not None:
            return self._ship_query(context)
        return self._ship_manifest()

    def _dry_run(self, context: Context) -> dict[str, Any]:
        """What a ship would do, with nothing uploaded or recorded (files are written in one-task mode)."""
        from flex_provider.batch.ledger import FlexLedger

        ledger = FlexLedger(self.ledger_conn_id)
        if self.sql is None:
            from flex_provider.batch.shipment import plan_shipment

            shipment = plan_shipment(str(self.manifest), ledger, self.files)
            summary: dict[str, Any] = {
                "business_date": shipment.manifest.business_date.isoformat(),
                "kind": shipment.manifest.kind,
                "would_upload": [p.name for p in shipment.plans],
                "skipped": shipment.skipped,
            }
        else:
            summary = super().execute(context)  # the extract step's own dry run: files, no ledger record
            summary["would_upload"] = [*summary["files"], *summary["resend"]]
        summary.setdefault("skipped", [])
        summary.update(uploaded=[], resent=[], rows=0, dry_run=True)
        self.log.info("Dry run: nothing uploaded or recorded; would upload %s", summary["would_upload"])
        return summary

    def _fresh_token(self) -> str:
        """A bearer token fetched now, never a cached one (Flex checks line 1 when it picks the file up)."""
        from flex_provider.hooks.api import FlexApiHook

        with FlexApiHook(self.flex_conn_id) as api:
            token = api.get_token(force_refresh=True)
        return self.transform_token(token) if self.transform_token is not None else token

    def _ship_query(self, context: Context) -> dict[str, Any]:
        """The one-task path: extract -> check -> files -> record -> upload -> mark, overlapped."""
        from flex_provider.batch.ledger import FlexLedger
        from flex_provider.batch.pipeline import ShipPipeline
        from flex_provider.hooks.sftp import FlexSftpHook
        from flex_provider.merchant.db import engine_for_conn

        day = self.resolve_day(context)
        self.out_dir = str(self.local_dir(day))
        self._parameters = self.query_parameters(day)
        expiry_days = conf.getint("flex", "expiry_days") if _unset(self.expiry_days) else int(self.expiry_days)
        mid = resolve_mid(self.mid, self.flex_conn_id)
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
            default_expiry=timedelta(days=expiry_days + 1) if self.kind == "evaluate" else None,
            channels=self.channels,
        )
        engine = engine_for_conn(self.merchant_conn_id)
        try:
            summary = pipeline.run(self._chunks(engine))
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
