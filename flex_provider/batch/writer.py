"""
Build evaluate/transmit batch files from flat source rows (docs/batch-files.md, "Source columns").

Column-wise from end to end: each input chunk (Arrow record batches from the extract, polars or pandas
DataFrames, lists of dicts) is cast and checked a whole column at a time (:mod:`.checks`), its good rows
are encoded as JSON a column at a time (:mod:`.encode`) and cut into files (:mod:`.files`). A rejected
row goes to the rejects CSV with a reason a merchant understands (:mod:`.reasons`), never the value.
The writer streams (one chunk and one file's rows at a time); the manifest is written last; the same
input gives byte-identical files on a rerun.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

import polars as pl

from flex_provider.batch.checks import check_chunk
from flex_provider.batch.coerce import as_utc, to_chunk
from flex_provider.batch.columns import CSV_COLUMNS, SOURCE_COLUMNS, Kind
from flex_provider.batch.encode import csv_frame, idempotency_keys, iso_datetime, json_rows
from flex_provider.batch.files import BuiltFile, FileCutter, FileNames, remove_stale
from flex_provider.batch.manifest import (
    fill_authorization_token,
    first_line_transform,
    iter_batch_rows,
    ledger_rows_name,
    read_ledger_rows,
    read_manifest,
    render_for_upload,
    sha256_file,
    write_atomic,
)
from flex_provider.models.batch import MAX_ROWS_PER_FILE, Manifest, ManifestTotals
from flex_provider.pci import mask_pans

__all__ = [
    "CSV_COLUMNS",
    "SOURCE_COLUMNS",
    "BatchWriter",
    "fill_authorization_token",
    "first_line_transform",
    "iter_batch_rows",
    "ledger_rows_name",
    "read_ledger_rows",
    "read_manifest",
    "render_for_upload",
]

log = logging.getLogger(__name__)

FileFormat = Literal["json", "csv"]
AlreadyShipped = Callable[[list[str]], "set[str]"]


class BatchWriter:
    """
    Stream flat source rows into evaluate or transmit batch files.

    :param kind: ``evaluate`` or ``transmit``.
    :param mid: merchant id written into every row and the envelope.
    :param business_date: the day the files belong to (file names, envelope).
    :param out_dir: local folder for batch files, rejects CSV and manifest (created if missing).
    :param rows_per_file: at most this many rows a file; never above 2000 (Flex's limit).
    :param prefix: file-name prefix; default ``evaluate_`` / ``transmit_``.
    :param file_format: ``json`` (both kinds) or ``csv`` (transmit only).
    :param default_expiry: evaluate only: the envelope's ``expiryDateUtc``; a datetime, or a timedelta
        added to midnight UTC of ``business_date``. None leaves it out (each row's own value applies).
    :param already_shipped: optional ledger callback: given order ids, returns those already shipped
        by another run; such rows are rejected ``already_shipped``.
    :param first_file_number: number of the first file written (default 1). A day whose files were
        already uploaded continues after them (``FlexLedger.next_file_number``), so late rows go into
        new files; files numbered below it are an earlier run's and are never touched.
    :param now: clock for the ``expiry_in_past`` check (default: the system clock, UTC).
    :param on_file: called (from an I/O thread) with each :class:`~flex_provider.batch.files.BuiltFile`
        as soon as it is on disk, before the next chunks are done: the one-task shipper records and
        uploads it meanwhile.
    """

    def __init__(
        self,
        *,
        kind: Kind,
        mid: str,
        business_date: date,
        out_dir: str | os.PathLike[str],
        rows_per_file: int = MAX_ROWS_PER_FILE,
        prefix: str | None = None,
        file_format: FileFormat = "json",
        default_expiry: datetime | timedelta | None = None,
        already_shipped: Callable[[list[str]], set[str]] | None = None,
        first_file_number: int = 1,
        now: Callable[[], datetime] | None = None,
        on_file: Callable[[BuiltFile], None] | None = None,
    ) -> None:
        if kind not in ("evaluate", "transmit"):
            raise ValueError(f"kind must be 'evaluate' or 'transmit', not {kind!r}")
        if not 1 <= int(rows_per_file) <= MAX_ROWS_PER_FILE:
            raise ValueError(f"rows_per_file must be between 1 and {MAX_ROWS_PER_FILE}, not {rows_per_file}")
        if file_format not in ("json", "csv"):
            raise ValueError(f"file_format must be 'json' or 'csv', not {file_format!r}")
        if file_format == "csv" and kind != "transmit":
            raise ValueError("CSV is only defined for transmit files")
        if not mid:
            raise ValueError("mid is required")
        if not 1 <= int(first_file_number) <= 9999:
            raise ValueError(f"first_file_number must be between 1 and 9999, not {first_file_number}")
        if isinstance(business_date, datetime):
            business_date = business_date.date()
        self.kind: Kind = kind
        self.mid = mid
        self.business_date = business_date
        self.out_dir = Path(out_dir)
        self.rows_per_file = int(rows_per_file)
        self.prefix = prefix if prefix is not None else f"{kind}_"
        self.file_format: FileFormat = file_format
        if isinstance(default_expiry, timedelta):
            default_expiry = datetime.combine(business_date, time(), tzinfo=timezone.utc) + default_expiry
        self.default_expiry = as_utc(default_expiry) if default_expiry is not None else None
        self.already_shipped = already_shipped
        self.first_file_number = int(first_file_number)
        self._now = now or (lambda: datetime.now(timezone.utc))
        self.on_file = on_file
        self.names = FileNames(kind, mid, business_date, self.prefix, file_format)

    def file_name(self, number: int) -> str:
        """Name of batch file ``number`` (1-based)."""
        return self.names.batch(number)

    @property
    def rejects_name(self) -> str:
        """Name of the local rejects CSV."""
        return self.names.rejects

    @property
    def manifest_name(self) -> str:
        """Name of the local manifest."""
        return self.names.manifest

    # -- one chunk -----------------------------------------------------------------------------

    def _encode(self, typed: dict[str, pl.Series], good: pl.Series) -> pl.DataFrame:
        """The good rows of a chunk, encoded: ``body`` (or the CSV columns), ``order_id``, ``key``, ``expiry``."""
        frame = pl.DataFrame(list(typed.values())).filter(good)
        frame = frame.with_columns(key=idempotency_keys(self.mid, frame["order_id"], self.kind))
        if self.kind == "evaluate":
            expiry = iso_datetime(pl.col("expiry_date_utc"))
        else:
            expiry = pl.lit(None, dtype=pl.String)
        extra = [pl.col("order_id"), pl.col("key"), expiry.alias("expiry")]
        if self.file_format == "csv":
            return pl.concat(
                [csv_frame(self.kind, self.mid, frame, CSV_COLUMNS), frame.select(extra)], how="horizontal"
            )
        return pl.concat(
            [json_rows(self.kind, self.mid, frame).to_frame(), frame.select(extra)], how="horizontal"
        )

    def _late_rejects(self, reason: pl.Series, order_id: pl.Series, seen: pl.Series) -> pl.Series:
        """Add ``already_shipped`` (ledger) and ``duplicate_order`` (this run) to the good rows' reasons."""
        good = reason.is_null()
        ids = order_id.filter(good)
        if ids.len() == 0:
            return reason
        shipped: set[str] = set()
        # The run's ids probed against this chunk's (a small hash set), not the other way round.
        earlier = ids.is_in(seen.filter(seen.is_in(ids.implode())).implode())
        fresh = ids.filter(~earlier).unique().sort()
        if self.already_shipped is not None and fresh.len():
            shipped = set(self.already_shipped(fresh.to_list()))
        late = pl.select(
            pl.when(ids.is_in(pl.Series(sorted(shipped), dtype=pl.String).implode()))
            .then(pl.lit("already_shipped"))
            .when(earlier | ~ids.is_first_distinct())
            .then(pl.lit("duplicate_order"))
        ).to_series()
        return reason.scatter(good.arg_true(), late)

    # -- run -----------------------------------------------------------------------------------

    def write(self, chunks: Iterable[Any]) -> dict[str, Any]:
        """
        Write every row of ``chunks`` into batch files, the rejects CSV and (last) the manifest.

        :param chunks: Arrow record batches or tables, polars or pandas DataFrames, or lists of dicts,
            in the flat source-column layout.
        :return: a small summary (JSON-serialisable, fit for XCom).
        """
        self.out_dir.mkdir(parents=True, exist_ok=True)
        reasons: Counter[str] = Counter()
        seen = pl.Series("seen", [], dtype=pl.String)  # order ids written in this run
        extracted = written = 0
        cutter = FileCutter(
            self.names,
            self.out_dir,
            rows_per_file=self.rows_per_file,
            first_number=self.first_file_number,
            default_expiry=self.default_expiry,
            csv_header=CSV_COLUMNS if self.file_format == "csv" else None,
            on_file=self.on_file,
        )
        rejects_path = self.out_dir / self.rejects_name
        rejects_tmp = rejects_path.with_name(rejects_path.name + ".tmp")
        unknown_columns: set[str] = set()
        now = self._now()
        with rejects_tmp.open("w", encoding="utf-8", newline="") as rejects_fh:
            rejects = csv.writer(rejects_fh, lineterminator="\r\n")
            rejects.writerow(["source_row", "order_id", "field", "reason"])
            try:
                for raw in chunks:
                    chunk = to_chunk(raw)
                    del raw
                    if chunk.rows == 0:
                        continue
                    checked = check_chunk(
                        chunk, kind=self.kind, mid=self.mid, default_expiry=self.default_expiry, now=now
                    )
                    if len(unknown_columns) < 50:
                        unknown_columns.update(checked.unknown)
                    reason = self._late_rejects(checked.reason, checked.order_id, seen)
                    good = reason.is_null()
                    bad_at = (~good).arg_true().to_list()
                    if bad_at:
                        shown_ids = checked.order_id.gather(bad_at).to_list()
                        why = reason.gather(bad_at).to_list()
                        where = checked.field.gather(bad_at).to_list()
                        for pos, oid, fld, rsn in zip(bad_at, shown_ids, where, why, strict=True):
                            field = fld if rsn not in ("already_shipped", "duplicate_order") else "order_id"
                            rejects.writerow([extracted + pos + 1, oid or "", field, rsn])
                            reasons[rsn.split(":", 1)[0]] += 1
                    encoded = self._encode(checked.typed, good)
                    seen = pl.concat([seen, encoded["order_id"].alias("seen")], rechunk=False)
                    cutter.add(encoded)
                    extracted += chunk.rows
                    written += encoded.height
                    del chunk, checked, encoded
                entries = cutter.finish()
            except BaseException:
                cutter.abort()
                rejects_fh.close()
                rejects_tmp.unlink(missing_ok=True)
                raise
            rejects_fh.flush()
            os.fsync(rejects_fh.fileno())
        os.replace(rejects_tmp, rejects_path)
        rejected = sum(reasons.values())
        if extracted != written + rejected:  # pragma: no cover - a bug, never a data problem
            raise AssertionError(f"row accounting broken: {extracted} != {written} + {rejected}")
        if unknown_columns:
            log.warning(
                "Ignored source columns not in the batch layout: %s",
                mask_pans(", ".join(sorted(str(c) for c in unknown_columns))),
            )
        remove_stale(self.out_dir, self.names, self.first_file_number, {e.name for e in entries})
        manifest = Manifest(
            kind=self.kind,
            mid=self.mid,
            business_date=self.business_date,
            file_format=self.file_format,
            files=entries,
            rejects_file=self.rejects_name,
            rejects_sha256=sha256_file(rejects_path),
            totals=ManifestTotals(extracted=extracted, written=written, rejected=rejected),
        )
        manifest_path = self.out_dir / self.manifest_name
        write_atomic(
            manifest_path, (json.dumps(manifest.model_dump(mode="json"), indent=2) + "\n").encode("utf-8")
        )
        log.info(
            "Wrote %d %s file(s) for %s: %d rows extracted, %d written, %d rejected",
            len(entries),
            self.kind,
            self.business_date,
            extracted,
            written,
            rejected,
        )
        return {
            "kind": self.kind,
            "mid": self.mid,
            "business_date": self.business_date.isoformat(),
            "out_dir": str(self.out_dir),
            "manifest": str(manifest_path),
            "files": [e.name for e in entries],
            "rejects_file": str(rejects_path),
            "extracted": extracted,
            "written": written,
            "rejected": rejected,
            "rejected_by_reason": dict(sorted(reasons.items())),
        }
