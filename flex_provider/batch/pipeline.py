"""
Extract, check, write, record, upload and mark a day's batch in one pipeline (the one-task ship).

:class:`ShipPipeline` runs the stages at once, each in its own thread, joined by queues:

* the extract (``arrow_chunks``: the database streams the next record batches while these are checked);
* the caller's thread: whole-column checks and JSON encoding (polars, GIL released in large parts),
  files cut at ``rows_per_file`` (:class:`~flex_provider.batch.writer.BatchWriter`);
* an I/O thread hashes, writes and fsyncs each file, then hands it over (``on_file``);
* the recorder: every file built since its last turn is recorded with all its rows in one ledger
  transaction (one COPY), and only then submitted to the uploader;
* the uploader: ``channels`` SFTP channels of one SSH session (``.part`` + size check + rename);
* the marker: every upload landed since its last turn is marked in one transaction, with its rows'
  ``shipped`` events.

So file k is on the wire while file k+1 is built, and the ledger's guarantees hold as in the two-task
path: a file is recorded before any byte of it leaves, and marked uploaded only after its rename
landed. A crash in between leaves ``written`` files, which the next run discards and rebuilds (a file
that had landed is found complete on the server and not sent twice). The manifest, the rejects file
and the ledger records are the ones ``WriteBatchOperator`` + ``ShipBatchOperator`` leave, so the later
steps (record_shipment, mark_pending, the ack sensor) read them unchanged.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flex_provider.batch.files import BuiltFile
from flex_provider.batch.manifest import fill_authorization_token, sha256_file
from flex_provider.batch.writer import BatchWriter, FileFormat
from flex_provider.models.batch import MAX_ROWS_PER_FILE

if TYPE_CHECKING:
    from flex_provider.hooks.sftp import FlexSftpHook, UploadResult
    from flex_provider.hooks.sftp_upload import ChannelUploader
    from flex_provider.ledger import FlexLedger

log = logging.getLogger(__name__)

#: Files recorded in one ledger transaction at most (the recorder takes what is ready, up to this).
RECORD_BATCH = 25
#: Built files waiting for the recorder at most: when the ledger lags, the writer waits (memory stays flat).
MAX_WAITING = 2 * RECORD_BATCH
_END = object()


class PipelineError(RuntimeError):
    """A stage of the pipeline failed; the first failure is the cause."""


@dataclass
class ShipOutcome:
    """What the upload side did: files uploaded, sent again after a rejection, skipped; rows uploaded."""

    uploaded: list[str] = field(default_factory=list)
    resent: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    rows: int = 0


class ShipPipeline:
    """
    One day's batch from query rows to Flex's inbound folder, every stage overlapping the others.

    :param ledger: the ledger (files, rows, events).
    :param hook: the SFTP hook of the exchange (its connection's ``host_key`` pin is honoured).
    :param get_token: returns a fresh bearer token; called once, while the first chunk is read, and
        before any file is recorded.
    :param kind: ``evaluate`` or ``transmit``.
    :param mid: the merchant id.
    :param business_date: the batch's day.
    :param out_dir: local folder for the files, rejects and manifest.
    :param rows_per_file: at most 2000.
    :param file_format: ``json`` (both kinds) or ``csv`` (transmit).
    :param default_expiry: evaluate: the envelope's ``expiryDateUtc`` (a timedelta from midnight UTC of
        the day, or a datetime).
    :param channels: SFTP channels (uploads in flight) on the one SSH connection.
    :param now: clock of the writer's ``expiry_in_past`` check.
    """

    def __init__(
        self,
        *,
        ledger: FlexLedger,
        hook: FlexSftpHook,
        get_token: Callable[[], str],
        kind: str,
        mid: str,
        business_date: date,
        out_dir: str | Path,
        rows_per_file: int = MAX_ROWS_PER_FILE,
        file_format: FileFormat = "json",
        default_expiry: datetime | timedelta | None = None,
        channels: int = 4,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.ledger = ledger
        self.hook = hook
        self.get_token = get_token
        self.kind = kind
        self.mid = mid
        self.business_date = business_date
        self.out_dir = Path(out_dir)
        self.rows_per_file = rows_per_file
        self.file_format: FileFormat = file_format
        self.default_expiry = default_expiry
        self.channels = channels
        self.now = now
        self._built: queue.Queue[Any] = queue.Queue(maxsize=MAX_WAITING)
        self._errors: list[BaseException] = []
        self._abort = threading.Event()
        self._end_seen = False
        self._submitted_all = threading.Event()
        self._rows: dict[str, int] = {}
        self._resend: set[str] = set()
        self.outcome = ShipOutcome()
        #: seconds spent per stage (``write``, ``record``, ``mark``, ``ship``) and ledger transactions
        self.stats: Counter[str] = Counter()

    # -- the run ---------------------------------------------------------------------------------

    def run(self, chunks: Iterable[Any]) -> dict[str, Any]:
        """
        Ship every row of ``chunks`` (Arrow record batches or tables, polars or pandas frames, lists of
        dicts) and the day's files Flex rejected as a whole; the writer's summary plus the upload's.
        """
        ledger, kind, mid, day = self.ledger, self.kind, self.mid, self.business_date
        discarded = ledger.discard_unshipped_files(mid, kind, day)
        if discarded:
            log.info("Rebuilding %d file(s) recorded but never uploaded: %s", len(discarded), discarded)
        first_number = ledger.next_file_number(mid, kind, day)
        resend = self._resend_files()
        writer = BatchWriter(
            kind=kind,  # type: ignore[arg-type]
            mid=mid,
            business_date=day,
            out_dir=self.out_dir,
            rows_per_file=self.rows_per_file,
            file_format=self.file_format,
            default_expiry=self.default_expiry,
            # Any recorded row counts, this day's included: a rerun never writes a shipped order again.
            already_shipped=lambda ids: ledger.already_shipped(mid, kind, ids),
            first_file_number=first_number,
            now=self.now,
            on_file=self._built.put,
        )
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="flex-token") as pool:
            token: Future[str] = pool.submit(self.get_token)
            shipper = threading.Thread(target=self._ship, args=(token, resend), name="flex-ship", daemon=True)
            shipper.start()
            started = time.perf_counter()
            try:
                summary = writer.write(self._watched(chunks))
                self.stats["write_s"] = time.perf_counter() - started
            except BaseException:
                self._abort.set()
                raise
            finally:
                self._built.put(_END)
                shipper.join()
                self.stats["total_s"] = time.perf_counter() - started
        log.info("Pipeline stages: %s", {k: round(v, 3) for k, v in self.stats.items()})
        if self._errors:
            raise PipelineError(f"shipping failed: {self._errors[0]!r}") from self._errors[0]
        out = self.outcome
        summary.update(
            first_file_number=first_number,
            resend=sorted(self._resend),
            uploaded=sorted(out.uploaded),
            resent=sorted(out.resent),
            skipped=sorted(out.skipped),
            rows=out.rows,
            stages={k: round(v, 3) for k, v in self.stats.items()},
        )
        return summary

    def _watched(self, chunks: Iterable[Any]) -> Iterable[Any]:
        """The chunks, stopping early when a later stage failed."""
        for chunk in chunks:
            if self._abort.is_set():
                raise PipelineError(f"shipping failed: {self._errors[0]!r}") from self._errors[0]
            yield chunk

    def _fail(self, exc: BaseException) -> None:
        self._errors.append(exc)
        self._abort.set()

    def _resend_files(self) -> list[tuple[str, Path, int]]:
        """The day's files Flex rejected as a whole: sent again, from the same bytes (sha256 checked)."""
        from flex_provider.batch.files import FileNames

        prefix = f"{self.kind}_"
        names = FileNames(self.kind, self.mid, self.business_date, prefix, self.file_format)
        out = []
        for record in self.ledger.rejected_files(self.mid, self.kind, self.business_date):
            path = self.out_dir / record["name"]
            if not record["name"].startswith(prefix + names.stem):
                continue
            if not path.is_file() or sha256_file(path) != record["sha256"]:
                raise PipelineError(
                    f"{record['name']} was rejected by Flex ({record['ack_error']}) and must be uploaded "
                    f"again, but {path} is missing or differs from the file recorded in the ledger"
                )
            log.warning("Uploading %s again: Flex rejected it (%s)", record["name"], record["ack_error"])
            out.append((record["name"], path, int(record["rows"])))
            self._resend.add(record["name"])
        return out

    # -- recorder + uploader -------------------------------------------------------------------

    def _ship(self, token: Future[str], resend: list[tuple[str, Path, int]]) -> None:
        """The recorder thread: opens the uploader, records what was built, submits it; starts the marker."""
        try:

            def transform(line: str) -> str:
                return fill_authorization_token(line, token.result())

            with self.hook.open_uploader(channels=self.channels, transform_first_line=transform) as uploader:
                token.result()  # before anything is recorded: no token, nothing leaves
                marker = threading.Thread(target=self._mark, args=(uploader,), name="flex-mark", daemon=True)
                marker.start()
                try:
                    for name, path, rows in resend:
                        self._rows[name] = rows
                        uploader.submit(path)
                    self._record_and_submit(uploader)
                finally:
                    self._submitted_all.set()
                    marker.join()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            self._fail(exc)
            while not self._end_seen and self._built.get() is not _END:  # never leave the writer waiting
                pass
        finally:
            self._submitted_all.set()

    def _record_and_submit(self, uploader: ChannelUploader) -> None:
        from flex_provider.ledger.files import FileRecord

        ended = False
        while not ended:
            batch: list[BuiltFile] = []
            item = self._built.get()
            while True:
                if item is _END:
                    ended = self._end_seen = True
                    break
                batch.append(item)
                if len(batch) >= RECORD_BATCH:
                    break
                try:
                    item = self._built.get_nowait()
                except queue.Empty:
                    break
            if self._abort.is_set():
                continue  # drain the queue, record and upload nothing more
            if not batch:
                continue
            import polars as pl

            records = [
                FileRecord(b.entry.name, self.business_date, self.kind, self.mid, b.entry.rows,
                           b.entry.sha256, b.entry.rows_sha256)
                for b in batch
            ]  # fmt: skip
            started = time.perf_counter()
            states = self.ledger.record_files(records, pl.concat([b.rows for b in batch], how="vertical"))
            self.stats["record_s"] += time.perf_counter() - started
            self.stats["record_tx"] += 1
            for b in batch:
                if states[b.entry.name] != "written":  # uploaded meanwhile by a concurrent run
                    self.outcome.skipped.append(b.entry.name)
                    continue
                self._rows[b.entry.name] = b.entry.rows
                uploader.submit(b.path)

    # -- marker ------------------------------------------------------------------------------

    def _mark(self, uploader: ChannelUploader) -> None:
        """The marker thread: every upload that landed since its last turn, marked in one transaction."""
        from flex_provider.batch.upload import mark_landed

        try:
            while not (self._submitted_all.is_set() and uploader.pending == 0):
                landed: list[UploadResult] = uploader.take(timeout=0.2)
                if not landed:
                    continue
                started = time.perf_counter()
                mark_landed(self.ledger, landed, self._resend.__contains__)
                self.stats["mark_s"] += time.perf_counter() - started
                self.stats["mark_tx"] += 1
                for r in landed:
                    if r.status == "uploaded":
                        self.outcome.uploaded.append(r.name)
                        if r.name in self._resend:
                            self.outcome.resent.append(r.name)
                        self.outcome.rows += self._rows.get(r.name, 0)
                    else:
                        self.outcome.skipped.append(r.name)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            self._fail(exc)
