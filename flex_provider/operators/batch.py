"""
Operators for the SFTP batch channel: extract -> write -> ship -> mark -> process outbound -> reconcile.

Each one is thin: SQL lives in templated ``.sql`` files a merchant adapts (``dags/sql/``), files are
built by :class:`~flex_provider.batch.writer.BatchWriter`, state lives in the
:class:`~flex_provider.batch.ledger.FlexLedger`, transfers go through
:class:`~flex_provider.hooks.sftp.FlexSftpHook`. Every operator returns a small summary for XCom.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

if TYPE_CHECKING:
    from airflow.sdk import Context
    from sqlalchemy import Connection, Select

MERCHANT_CONN_ID = "flex_merchant_db"
LEDGER_CONN_ID = "flex_ledger_db"
FLEX_CONN_ID = "flex_default"
SFTP_CONN_ID = "flex_sftp_default"

#: Staging table the outcome SQL reads (merchant DB, session-local).
OUTCOME_STAGE = "flex_stage_outcomes"
OUTCOME_TYPES = (
    ("order_id", "text"),
    ("flex_order_id", "text"),
    ("flex_status", "text"),
    ("confirmation_id", "text"),
    ("amount", "int"),
    ("settled_at", "ts"),
)
SHIPPED_STAGE = "flex_stage_shipped"
SHIPPED_TYPES = (("order_id", "text"), ("batch_file", "text"), ("business_date", "date"), ("expiry_at", "ts"))
REJECTS_STAGE = "flex_stage_rejects"
REJECTS_TYPES = (("order_id", "text"), ("business_date", "date"), ("reason", "text"))
OUTCOME_COLUMNS = tuple(c for c, _ in OUTCOME_TYPES)
SHIPPED_COLUMNS = tuple(c for c, _ in SHIPPED_TYPES)
REJECTS_COLUMNS = tuple(c for c, _ in REJECTS_TYPES)

# Flex GET /orders status code -> outcome (flex_provider.models.api.OrderStatus).
_ORDER_STATUS_OUTCOME = {7: "APPROVED", 8: "EXPIRED", 2: "CANCELLED", 6: "REFUNDED"}


def _as_date(value: date | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _as_utc_datetime(value: Any) -> datetime | None:
    """A datetime from the DB (aware, naive UTC, or SQLite text), as aware UTC; None if unreadable."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _mid(mid: str | None, flex_conn_id: str) -> str:
    if mid:
        return mid
    from flex_provider.hooks.api import FlexApiHook

    found = FlexApiHook(flex_conn_id).settings.mid
    if not found:
        raise AirflowFailException(f"No mid given and connection {flex_conn_id!r} has no 'mid' extra")
    return found


def _read_sql(sql: str) -> str:
    """
    The operator's ``sql`` without comments (so ``:name`` in a comment is no bind parameter).

    ``sql`` is rendered text, or the path of a file that was not templated (an absolute path).
    """
    import sqlparse

    if sql.strip().endswith(".sql") and "\n" not in sql.strip() and os.path.isfile(sql.strip()):
        sql = Path(sql.strip()).read_text(encoding="utf-8")
    return sqlparse.format(sql, strip_comments=True).strip()


class WriteBatchOperator(BaseOperator):
    """
    Run a templated SQL query on the merchant DB and stream its rows into evaluate/transmit batch files.

    The query must return the flat source columns of docs/batch-files.md (``order_id``, ``amount_cents``,
    ``currency``, ``card_token``...). Rows are fetched with a server-side cursor in chunks of
    ``chunk_size`` and handed to :class:`~flex_provider.batch.writer.BatchWriter`; memory stays flat.
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
        chunk_size: int = 10_000,
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

    def _chunks(self, conn: Connection) -> Iterator[list[dict[str, Any]]]:
        from sqlalchemy import text

        limit = int(self.row_limit) if self.row_limit not in (None, "", "None") else None
        result = conn.execution_options(stream_results=True, yield_per=self.chunk_size).execute(
            text(_read_sql(self.sql)), dict(self.parameters or {})
        )
        keys = tuple(result.keys())
        seen = 0
        # Rows zipped with the column names: a RowMapping a row costs several times more.
        for part in result.partitions(self.chunk_size):
            rows = [dict(zip(keys, r)) for r in part]
            if limit is not None and seen + len(rows) > limit:
                rows = rows[: limit - seen]
            seen += len(rows)
            if rows:
                yield rows
            if limit is not None and seen >= limit:
                break
        result.close()

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
            with engine.connect() as conn:
                summary = writer.write(self._chunks(conn))
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


class ShipBatchOperator(BaseOperator):
    """
    Upload the batch files of a manifest to Flex's inbound folder, each at most once.

    Files the ledger marks ``uploaded`` or ``acknowledged`` are skipped. The others are recorded in the
    ledger (file and rows), a bearer token is fetched just before the upload (tokens live 10 minutes),
    and all files go over one SSH connection as ``<name>.part`` + rename with the token written into
    line 1. Each upload is recorded in the ledger right after it.

    A file Flex rejected as a whole (its ack says ``REJECTED``: an expired or bad token, an unreadable
    file) is the one exception: it is uploaded again, from the same local file (checked against the
    ledger's sha256) with a fresh token, and its old ack is forgotten so the new one is read. With
    ``files=None`` every rejected file of the manifest's day is resent; a mapped task gets them through
    ``files`` (the extract step lists them under ``resend``).

    :param manifest: path of the manifest written by the writer (templated).
    :param files: only these file names (templated; for mapped fan-out): names of the manifest, or
        rejected files of the manifest's day lying next to it. None = all of both.
    :param ledger_conn_id: SQL connection of the ledger.
    :param flex_conn_id: ``flex`` connection (for the token).
    :param sftp_conn_id: ``sftp`` connection of the exchange.
    :param transform_token: test hook: called with the bearer token before it goes into line 1.
    """

    template_fields: Sequence[str] = ("manifest", "files", "ledger_conn_id", "flex_conn_id", "sftp_conn_id")
    ui_color = "#e9f7ef"

    def __init__(
        self,
        *,
        manifest: str,
        files: Sequence[str] | None = None,
        ledger_conn_id: str = LEDGER_CONN_ID,
        flex_conn_id: str = FLEX_CONN_ID,
        sftp_conn_id: str = SFTP_CONN_ID,
        transform_token: Callable[[str], str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.manifest = manifest
        self.files = files
        self.ledger_conn_id = ledger_conn_id
        self.flex_conn_id = flex_conn_id
        self.sftp_conn_id = sftp_conn_id
        self.transform_token = transform_token

    def execute(self, context: Context) -> dict[str, Any]:
        from flex_provider.batch.ledger import FlexLedger
        from flex_provider.batch.outbound import sha256_file
        from flex_provider.batch.writer import (
            first_line_transform,
            iter_batch_rows,
            read_ledger_rows,
            read_manifest,
        )

        manifest_path = Path(self.manifest)
        manifest = read_manifest(manifest_path)
        ledger = FlexLedger(self.ledger_conn_id)
        rejected = {
            f["name"]: f for f in ledger.rejected_files(manifest.mid, manifest.kind, manifest.business_date)
        }
        by_name = {e.name: e for e in manifest.files}
        wanted = (
            list(self.files) if self.files is not None else [*by_name, *sorted(set(rejected) - set(by_name))]
        )
        missing = sorted(n for n in wanted if n not in by_name and n not in rejected)
        if missing:
            raise AirflowFailException(
                f"Files neither in {manifest_path.name} nor rejected by Flex: {missing}"
            )
        todo: list[tuple[str, int]] = []  # (name, rows)
        resend: set[str] = set()
        skipped: list[str] = []
        for name in wanted:
            if name in rejected:
                # Flex refused the whole file: send the same bytes again (a fresh token goes into line 1).
                record = rejected[name]
                path = manifest_path.parent / name
                if not path.is_file() or sha256_file(path) != record["sha256"]:
                    raise AirflowFailException(
                        f"{name} was rejected by Flex ({record['ack_error']}) and must be uploaded again, but "
                        f"{path} is missing or differs from the file recorded in the ledger"
                    )
                self.log.warning("Uploading %s again: Flex rejected it (%s)", name, record["ack_error"])
                resend.add(name)
                todo.append((name, int(record["rows"])))
                continue
            entry = by_name[name]
            state = ledger.file_state(name)
            if state in ("uploaded", "acknowledged"):
                skipped.append(name)
                continue
            state = ledger.record_file(
                name,
                business_date=manifest.business_date,
                kind=manifest.kind,
                mid=manifest.mid,
                rows=entry.rows,
                sha256=entry.sha256,
                rows_sha256=entry.rows_sha256,
            )
            if state != "written":  # uploaded meanwhile by a concurrent run
                skipped.append(name)
                continue
            # The writer's sidecar (checked against the file's sha256) spares re-parsing every row.
            path = manifest_path.parent / name
            rows_of_file = read_ledger_rows(path, entry.sha256)
            ledger.record_rows(name, rows_of_file if rows_of_file is not None else iter_batch_rows(path))
            todo.append((name, entry.rows))
        uploaded: list[str] = []
        rows = 0
        if todo:
            from flex_provider.hooks.api import FlexApiHook
            from flex_provider.hooks.sftp import FlexSftpHook

            # Never a cached token: Flex checks the one in line 1 when it picks the file up, later. (A task
            # normally starts with an empty cache; dag.test() and resends share one process.)
            with FlexApiHook(self.flex_conn_id) as api:
                token = api.get_token(force_refresh=True)
            if self.transform_token is not None:
                token = self.transform_token(token)
            hook = FlexSftpHook(ssh_conn_id=self.sftp_conn_id)
            results = hook.upload_files(
                [manifest_path.parent / name for name, _ in todo],
                transform_first_line=first_line_transform(token),
            )
            counts = dict(todo)
            for res in results:
                if res.name in resend:
                    ledger.mark_reuploaded(res.name, res.size, res.sha256)
                else:
                    ledger.mark_uploaded(res.name, res.size, res.sha256)
                if res.status == "uploaded":
                    uploaded.append(res.name)
                    rows += counts[res.name]
                else:
                    skipped.append(res.name)
        self.log.info(
            "Shipped %d file(s) (%d rows, %d sent again after a rejection); skipped %d already shipped",
            len(uploaded),
            rows,
            len(resend),
            len(skipped),
        )
        return {
            "business_date": manifest.business_date.isoformat(),
            "kind": manifest.kind,
            "uploaded": uploaded,
            "resent": sorted(resend & set(uploaded)),
            "skipped": skipped,
            "rows": rows,
        }


class MarkOrdersPendingOperator(BaseOperator):
    """
    Write what was shipped and rejected back to the merchant DB, set-based.

    Stages the ledger rows of the manifest's files (``flex_stage_shipped``: order id, file, business date,
    expiry) and the rejects CSV (``flex_stage_rejects``: order id, business date, reason) in temp tables of
    the merchant DB, then runs the templated ``sql`` (default ``dags/sql/mark_pending.sql``) that moves
    shipped orders to ``PENDING_FLEX`` and notes reject reasons. Only rows the ledger holds are marked, so
    a file that was written but never uploaded marks nothing.

    :param manifest: manifest path (templated).
    :param sql: SQL script or ``.sql`` file (templated); bind parameter ``:now``.
    :param merchant_conn_id: SQL connection of the merchant database.
    :param ledger_conn_id: SQL connection of the ledger.
    """

    template_fields: Sequence[str] = ("manifest", "sql", "merchant_conn_id", "ledger_conn_id")
    template_ext: Sequence[str] = (".sql",)
    template_fields_renderers: ClassVar[dict[str, str]] = {"sql": "sql"}
    ui_color = "#fef9e7"

    def __init__(
        self,
        *,
        manifest: str,
        sql: str,
        merchant_conn_id: str = MERCHANT_CONN_ID,
        ledger_conn_id: str = LEDGER_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.manifest = manifest
        self.sql = sql
        self.merchant_conn_id = merchant_conn_id
        self.ledger_conn_id = ledger_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        import csv

        from flex_provider.batch.ledger import SHIPPED_STATES, FlexLedger
        from flex_provider.batch.writer import read_manifest
        from flex_provider.merchant.db import engine_for_conn, run_script, stage_rows, staging_table, utc_text

        manifest_path = Path(self.manifest)
        manifest = read_manifest(manifest_path)
        bd = manifest.business_date.isoformat()
        ledger = FlexLedger(self.ledger_conn_id)
        # Every file of the day Flex may have received, not only this run's: a rerun after a crash
        # between ship and mark still marks the orders an earlier run uploaded.
        names = sorted(
            {e.name for e in manifest.files}
            | {
                f["name"]
                for f in ledger.files_for_day(
                    manifest.mid, manifest.kind, manifest.business_date, states=SHIPPED_STATES
                )
            }
        )

        def shipped() -> Iterator[tuple[Any, ...]]:
            for row in ledger.rows_for_files(names, states=SHIPPED_STATES):
                expiry = row["expiry_date_utc"]
                yield (row["order_id"], row["file_name"], bd, utc_text(expiry) if expiry else None)

        def rejects() -> Iterator[tuple[Any, ...]]:
            path = manifest_path.parent / manifest.rejects_file
            if not path.exists():
                return
            with path.open(encoding="utf-8", newline="") as fh:
                for row in csv.DictReader(fh):
                    if row.get("order_id"):
                        yield (row["order_id"], bd, row["reason"].split(":", 1)[0])

        engine = engine_for_conn(self.merchant_conn_id)
        try:
            with (
                engine.begin() as conn,
                staging_table(conn, SHIPPED_STAGE, SHIPPED_TYPES),
                staging_table(conn, REJECTS_STAGE, REJECTS_TYPES),
            ):
                n_shipped = stage_rows(conn, SHIPPED_STAGE, SHIPPED_COLUMNS, shipped() if names else iter(()))
                n_rejects = stage_rows(conn, REJECTS_STAGE, REJECTS_COLUMNS, rejects())
                counts = run_script(conn, _read_sql(self.sql), {"now": utc_text(), "business_date": bd})
        finally:
            engine.dispose()
        self.log.info(
            "Marked shipped orders (%d staged) and rejects (%d staged): %s", n_shipped, n_rejects, counts
        )
        return {"business_date": bd, "shipped_rows": n_shipped, "reject_rows": n_rejects, "updated": counts}


class ProcessOutboundOperator(BaseOperator):
    """
    Download new outbound files (ack/result), apply them to the ledger, and archive them remotely.

    :param files: the files to process, as the sensor returns them (``[{"name", ...}]``) or plain names
        (templated; usually ``sensor.output``).
    :param local_dir: local folder for the downloads (templated); ``quarantine/`` below it holds bad files.
    :param archive_subdir: remote subfolder of the outbound folder for processed files.
    :param quarantine_subdir: remote subfolder for malformed files.
    :param ledger_conn_id: SQL connection of the ledger.
    :param sftp_conn_id: ``sftp`` connection of the exchange.
    """

    template_fields: Sequence[str] = ("files", "local_dir", "ledger_conn_id", "sftp_conn_id")
    ui_color = "#eaf2f8"

    def __init__(
        self,
        *,
        files: Sequence[Mapping[str, Any] | str] | None,
        local_dir: str,
        archive_subdir: str = "processed",
        quarantine_subdir: str = "quarantine",
        ledger_conn_id: str = LEDGER_CONN_ID,
        sftp_conn_id: str = SFTP_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.files = files
        self.local_dir = local_dir
        self.archive_subdir = archive_subdir
        self.quarantine_subdir = quarantine_subdir
        self.ledger_conn_id = ledger_conn_id
        self.sftp_conn_id = sftp_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from flex_provider.batch.ledger import FlexLedger
        from flex_provider.batch.outbound import process_outbound_files
        from flex_provider.hooks.sftp import FlexSftpHook

        names = sorted({f if isinstance(f, str) else f["name"] for f in (self.files or [])})
        ledger = FlexLedger(self.ledger_conn_id)
        done = ledger.processed_outbound_names()
        new = [n for n in names if n not in done]
        local = Path(self.local_dir)
        hook = FlexSftpHook(ssh_conn_id=self.sftp_conn_id)
        summary: dict[str, Any] = {
            "processed": [],
            "quarantined": [],
            "skipped": sorted(set(names) - set(new)),
        }
        with hook.get_managed_conn():
            paths = []
            for name in new:
                try:
                    paths.append(hook.download(name, local))
                except FileNotFoundError:
                    # Listed, then moved or deleted on the server: nothing to apply; a later listing decides.
                    self.log.warning("Outbound file %s vanished before download; skipped", name)
            if paths:
                summary = process_outbound_files(paths, ledger, local / "quarantine")
                summary["skipped"] = sorted(set(summary.get("skipped", [])) | (set(names) - set(new)))
            for name in summary.get("processed", []):
                hook.move_outbound(name, self.archive_subdir)
            for name in summary.get("quarantined", []):
                hook.move_outbound(name, self.quarantine_subdir)
            # Files processed earlier but still lying in the folder (a crash before the move): archive now.
            for name in set(names) & done:
                with contextlib.suppress(FileNotFoundError):  # another run archived it meanwhile
                    hook.move_outbound(name, self.archive_subdir)
        self.log.info(
            "Outbound: %d processed, %d quarantined, %d skipped",
            len(summary.get("processed", [])),
            len(summary.get("quarantined", [])),
            len(summary.get("skipped", [])),
        )
        return summary


class ReconcileOrdersOperator(BaseOperator):
    """
    Move merchant orders to their final state from the ledger, webhook events and GET /orders.

    1. Ledger rows (evaluate, changed in the last ``lookback_days``) are staged into the merchant DB's
       ``flex_stage_outcomes`` temp table and ``apply_sql`` runs (default ``dags/sql/apply_outcomes.sql``:
       APPROVED -> PAID, EXPIRED -> FAILED, CANCELLED, REFUNDED, SUBMITTED stores Flex's order id; never
       backwards). Set-based: one UPDATE per script statement, whatever the row count.
    2. When the webhook store (``flex_webhook_order_state``) exists on ``webhook_conn_id``, its states are
       staged and applied the same way.
    3. With ``sweep``: orders still ``PENDING_FLEX`` whose rescue window ended more than
       ``sweep_grace_minutes`` ago are looked up with GET /orders/{id} (at most ``sweep_limit``); final
       ones are applied to the merchant DB and the ledger.
    4. ``summary_sql`` (default ``dags/sql/recovery_summary.sql``) rewrites ``flex_recovery_summary``.

    :param apply_sql: SQL script or ``.sql`` file applying ``flex_stage_outcomes`` (templated).
    :param summary_sql: SQL script or ``.sql`` file writing the summary (templated); None skips it.
    :param merchant_conn_id: SQL connection of the merchant database.
    :param ledger_conn_id: SQL connection of the ledger.
    :param webhook_conn_id: SQL connection of the webhook store (default: the ledger's).
    :param flex_conn_id: ``flex`` connection for the sweep.
    :param mid: merchant id (templated; default from the ``flex`` connection).
    :param sweep: look up overdue pending orders with GET /orders/{id}.
    :param sweep_limit: most orders looked up per run.
    :param sweep_grace_minutes: minutes after the expiry before an order counts as overdue.
    :param sweep_as_of: the "now" for the sweep (templated ISO date-time; default the real clock).
    :param lookback_days: only ledger rows updated this recently are staged.
    """

    template_fields: Sequence[str] = (
        "apply_sql",
        "summary_sql",
        "merchant_conn_id",
        "ledger_conn_id",
        "webhook_conn_id",
        "mid",
        "sweep_as_of",
    )
    template_ext: Sequence[str] = (".sql",)
    template_fields_renderers: ClassVar[dict[str, str]] = {"apply_sql": "sql", "summary_sql": "sql"}
    ui_color = "#f4ecf7"

    def __init__(
        self,
        *,
        apply_sql: str,
        summary_sql: str | None = None,
        merchant_conn_id: str = MERCHANT_CONN_ID,
        ledger_conn_id: str = LEDGER_CONN_ID,
        webhook_conn_id: str | None = None,
        flex_conn_id: str = FLEX_CONN_ID,
        mid: str | None = None,
        sweep: bool = True,
        sweep_limit: int = 500,
        sweep_grace_minutes: float = 60.0,
        sweep_as_of: str | None = None,
        lookback_days: int = 60,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.apply_sql = apply_sql
        self.summary_sql = summary_sql
        self.merchant_conn_id = merchant_conn_id
        self.ledger_conn_id = ledger_conn_id
        self.webhook_conn_id = webhook_conn_id
        self.flex_conn_id = flex_conn_id
        self.mid = mid
        self.sweep = sweep
        self.sweep_limit = sweep_limit
        self.sweep_grace_minutes = sweep_grace_minutes
        self.sweep_as_of = sweep_as_of
        self.lookback_days = lookback_days

    def _apply(
        self,
        engine: Any,
        rows: Iterator[tuple[Any, ...]] | list[tuple[Any, ...]] | None,
        *,
        server_side: Select[Any] | None = None,
    ) -> tuple[int, int]:
        """
        Stage outcomes and run ``apply_sql``. ``server_side``: a SELECT of the outcome columns in the
        merchant database itself, staged with ``INSERT ... SELECT`` (no row travels through Python).
        """
        from sqlalchemy import column, insert, table

        from flex_provider.merchant.db import run_script, stage_rows, staging_table, utc_text

        with engine.begin() as conn, staging_table(conn, OUTCOME_STAGE, OUTCOME_TYPES):
            if server_side is not None:
                stage = table(OUTCOME_STAGE, *(column(c) for c in OUTCOME_COLUMNS))
                staged = conn.execute(insert(stage).from_select(list(OUTCOME_COLUMNS), server_side)).rowcount
                conn.exec_driver_sql(f"ANALYZE {OUTCOME_STAGE}")
            else:
                staged = stage_rows(conn, OUTCOME_STAGE, OUTCOME_COLUMNS, rows or [])
            counts = run_script(conn, _read_sql(self.apply_sql), {"now": utc_text()}) if staged else []
        return staged, sum(c for c in counts if c and c > 0)

    def _ledger_query(self, engine: Any, mid: str) -> Select[Any] | None:
        """
        The ledger's outcomes as a SELECT when the ledger lives in the merchant's PostgreSQL database
        (the common set-up): staging them server-side skips a round trip through Python for each row.
        """
        from flex_provider.batch.ledger import FlexLedger
        from flex_provider.merchant.db import same_database

        if engine.dialect.name != "postgresql":
            return None
        ledger = FlexLedger(self.ledger_conn_id)
        try:
            if not same_database(engine, ledger.engine):
                return None
            return ledger.rows_query(
                mid,
                "evaluate",
                columns=("order_id", "order_session_key", "status", "confirmation_id", "amount", "result_at"),
                updated_since=datetime.now(timezone.utc) - timedelta(days=self.lookback_days),
                exclude_statuses=("SHIPPED",),
            )
        finally:
            ledger.engine.dispose()

    def _ledger_rows(self, mid: str) -> Iterator[tuple[Any, ...]]:
        from flex_provider.batch.ledger import FlexLedger
        from flex_provider.merchant.db import utc_text

        since = datetime.now(timezone.utc) - timedelta(days=self.lookback_days)
        for row in FlexLedger(self.ledger_conn_id).iter_rows(
            mid, "evaluate", updated_since=since, exclude_statuses=("SHIPPED",)
        ):
            result_at = row["result_at"]
            yield (
                row["order_id"],
                row["order_session_key"],
                row["status"],
                row["confirmation_id"],
                row["amount"],
                utc_text(result_at) if result_at else None,
            )

    def _webhook_rows(self) -> list[tuple[Any, ...]]:
        from flex_provider.merchant.db import engine_for_conn, table_exists, utc_text

        conn_id = self.webhook_conn_id or self.ledger_conn_id
        engine = engine_for_conn(conn_id)
        try:
            if not table_exists(engine, "flex_webhook_order_state"):
                return []
            from sqlalchemy import text

            with engine.connect() as conn:
                rows = conn.execute(
                    text(
                        "SELECT external_order_id, order_id, status, confirmation_id, amount, event_ts "
                        "FROM flex_webhook_order_state WHERE external_order_id IS NOT NULL"
                    )
                ).all()
        finally:
            engine.dispose()
        out = []
        for ext, flex_id, status, confirmation, amount, event_ts in rows:
            when = _as_utc_datetime(event_ts)
            out.append((ext, flex_id, status, confirmation, amount, utc_text(when) if when else None))
        return out

    def _sweep(self, engine: Any, mid: str) -> list[tuple[Any, ...]]:
        from sqlalchemy import text

        from flex_provider.batch.ledger import FlexLedger
        from flex_provider.hooks.api import FlexApiHook
        from flex_provider.merchant.db import utc_text
        from flex_provider.models.batch import ResultRow

        as_of = (
            datetime.fromisoformat(str(self.sweep_as_of).replace("Z", "+00:00"))
            if self.sweep_as_of
            else datetime.now(timezone.utc)
        )
        cutoff = utc_text(as_of - timedelta(minutes=self.sweep_grace_minutes))
        with engine.connect() as conn:
            overdue = conn.execute(
                text(
                    "SELECT DISTINCT order_id, flex_order_id FROM orders WHERE status = 'PENDING_FLEX' "
                    "AND flex_order_id IS NOT NULL AND flex_expiry_at < :cutoff ORDER BY order_id LIMIT :n"
                ),
                {"cutoff": cutoff, "n": int(self.sweep_limit)},
            ).all()
        if not overdue:
            return []
        found: list[tuple[Any, ...]] = []
        results: list[ResultRow] = []
        with FlexApiHook(self.flex_conn_id) as api:
            for order_id, flex_id in overdue:
                order = api.get_order(flex_id)
                outcome = _ORDER_STATUS_OUTCOME.get(order.status)
                if outcome is None:
                    continue
                when = datetime.now(timezone.utc)
                found.append(
                    (order_id, flex_id, outcome, order.confirmation_id, order.amount, utc_text(when))
                )
                results.append(
                    ResultRow(
                        order_id=order_id,
                        order_session_key=flex_id,
                        status=outcome,  # type: ignore[arg-type]
                        confirmation_id=order.confirmation_id,
                        amount=order.amount,
                        currency=order.currency_code,
                        timestamp_utc=when,
                    )
                )
        if results:
            FlexLedger(self.ledger_conn_id).apply_results(results, mid=mid)
        self.log.info("Swept %d overdue pending order(s); %d were final at Flex", len(overdue), len(found))
        return found

    def execute(self, context: Context) -> dict[str, Any]:
        from flex_provider.merchant.db import engine_for_conn, run_script, utc_text

        mid = _mid(self.mid, self.flex_conn_id)
        engine = engine_for_conn(self.merchant_conn_id)
        out: dict[str, Any] = {}
        try:
            query = self._ledger_query(engine, mid)
            out["ledger_staged"], out["ledger_updated"] = (
                self._apply(engine, None, server_side=query)
                if query is not None
                else self._apply(engine, self._ledger_rows(mid))
            )
            webhook_rows = self._webhook_rows()
            out["webhook_staged"], out["webhook_updated"] = self._apply(engine, webhook_rows)
            out["swept"] = 0
            if self.sweep:
                swept = self._sweep(engine, mid)
                out["swept"] = len(swept)
                _, out["sweep_updated"] = self._apply(engine, swept)
            if self.summary_sql:
                with engine.begin() as conn:
                    run_script(conn, _read_sql(self.summary_sql), {"now": utc_text()})
                out["summary"] = recovery_totals(engine)
        finally:
            engine.dispose()
        self.log.info("Reconciled: %s", out)
        return out


def recovery_totals(engine: Any) -> dict[str, Any]:
    """Totals over ``flex_recovery_summary`` (all dates and currencies), for logs and XCom."""
    from sqlalchemy import text

    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT COALESCE(SUM(declines_sent),0), COALESCE(SUM(rejected),0), COALESCE(SUM(pending),0), "
                "COALESCE(SUM(rescued_count),0), COALESCE(SUM(rescued_amount_cents),0), "
                "COALESCE(SUM(expired_count),0), COALESCE(SUM(cancelled_count),0), "
                "COALESCE(SUM(refunded_count),0) FROM flex_recovery_summary"
            )
        ).one()
    sent, rejected, pending, rescued, amount, expired, cancelled, refunded = (int(v) for v in row)
    settled = rescued + expired
    return {
        "declines_sent": sent,
        "rejected": rejected,
        "pending": pending,
        "rescued": rescued,
        "rescued_amount_cents": amount,
        "expired": expired,
        "cancelled": cancelled,
        "refunded": refunded,
        "recovery_rate": round(rescued / settled, 4) if settled else None,
    }
