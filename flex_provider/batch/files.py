"""
Cut the encoded rows into batch files of at most ``rows_per_file`` rows and write each one atomically.

A JSON file is its envelope (line 1), one row a line, and ``]}``; each row gets ``sequenceNumber`` 1, 2,
... in its file. A file is written whole under ``<name>.tmp``, fsynced and moved into place, with its
ledger sidecar next to it; the manifest entry records both hashes (docs/batch-files.md).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import polars as pl

from flex_provider.batch.encode import json_string
from flex_provider.batch.manifest import ENCODE, envelope_line, ledger_rows_name, write_atomic
from flex_provider.models.batch import BatchHeader, ManifestEntry

log = logging.getLogger(__name__)

#: Files built but not yet on disk (each at most 2000 rows, ~1 MB): the I/O threads' queue.
_IN_FLIGHT = 6


@dataclass(frozen=True)
class BuiltFile:
    """
    A batch file on disk (fsynced), as :class:`FileCutter` hands it to ``on_file``: its manifest entry,
    path, and its ledger rows as columns (``file_name``, ``order_id``, ``sequence_number``,
    ``idempotency_key``, ``expiry_date_utc``: ISO text, the envelope default filled in).
    """

    entry: ManifestEntry
    path: Path
    rows: pl.DataFrame


@dataclass(frozen=True)
class FileNames:
    """How the files of one kind, merchant and day are named."""

    kind: str
    mid: str
    business_date: date
    prefix: str
    file_format: str

    @property
    def stem(self) -> str:
        return f"{self.mid}_{self.business_date:%Y%m%d}"

    def batch(self, number: int) -> str:
        return f"{self.prefix}{self.stem}_{number:04d}.{self.file_format}"

    @property
    def rejects(self) -> str:
        return f"rejects_{self.kind}_{self.stem}.csv"

    @property
    def manifest(self) -> str:
        return f"manifest_{self.kind}_{self.stem}.json"


class FileCutter:
    """
    Takes encoded rows chunk by chunk (:meth:`add`) and writes a file each time ``rows_per_file`` are
    pending; :meth:`finish` writes the last, shorter one. Holds at most one file's rows plus one chunk.
    """

    def __init__(
        self,
        names: FileNames,
        out_dir: Path,
        *,
        rows_per_file: int,
        first_number: int,
        default_expiry: datetime | None,
        csv_header: tuple[str, ...] | None = None,
        on_file: Callable[[BuiltFile], None] | None = None,
    ) -> None:
        self.names = names
        self.on_file = on_file
        self.out_dir = out_dir
        self.rows_per_file = rows_per_file
        self.next_number = first_number
        self.default_expiry = default_expiry
        self.csv_header = csv_header
        self._writes: list[Future[ManifestEntry]] = []
        # I/O threads: hashing (hashlib), writing and fsync release the GIL while the next file is built.
        self._io = ThreadPoolExecutor(max_workers=2, thread_name_prefix="flex-batch-files")
        self._pending: list[pl.DataFrame] = []
        self._pending_rows = 0

    def add(self, rows: pl.DataFrame) -> None:
        """
        Queue encoded rows: ``body`` (JSON: the row without its opening brace and sequence number; CSV: one text
        column per CSV column after ``sequenceNumber``), ``order_id``, ``key``, ``expiry`` (own, ISO).

        Rows are numbered here, a whole chunk at once: row ``i`` after ``p`` pending ones is number
        ``(p + i) % rows_per_file + 1`` of its file.
        """
        if rows.height == 0:
            return
        seq = ((pl.int_range(0, pl.len()) + self._pending_rows) % self.rows_per_file + 1).cast(pl.String)
        side = pl.concat_str(
            [pl.lit("["), json_string("order_id"), pl.lit(","), json_string("key"), pl.lit(","), json_string("expiry").fill_null("null"), pl.lit("]")]
        )  # fmt: skip
        # the ledger's view of each row, for ``on_file`` (the shipper records it column-wise)
        own = [pl.col("key"), pl.col("expiry"), seq.cast(pl.Int32).alias("seq")] if self.on_file else []
        if self.csv_header is None:
            line = pl.concat_str([pl.lit('{"sequenceNumber":"'), seq, pl.lit('",'), pl.col("body")])
            rows = rows.select(line.alias("line"), "order_id", side.alias("side"), *own)
        else:
            rows = rows.select(
                seq.alias(self.csv_header[0]),
                pl.exclude("order_id", "key", "expiry"),
                "order_id",
                side.alias("side"),
                *own,
            )
        self._pending.append(rows)
        self._pending_rows += rows.height
        while self._pending_rows >= self.rows_per_file:
            self._cut(self.rows_per_file)

    def finish(self) -> list[ManifestEntry]:
        """Write the last file and wait until every file is on disk (fsynced); their manifest entries."""
        if self._pending_rows:
            self._cut(self._pending_rows)
        try:
            return [f.result() for f in self._writes]
        finally:
            self._io.shutdown()

    def abort(self) -> None:
        """Stop after a failure: wait for the writes under way (files appear whole or not at all)."""
        self._io.shutdown(cancel_futures=True)

    def _cut(self, count: int) -> None:
        frame = pl.concat(self._pending, how="vertical") if len(self._pending) > 1 else self._pending[0]
        rows, rest = frame.head(count), frame.slice(count)
        self._pending = [rest] if rest.height else []
        self._pending_rows = rest.height
        self._writes.append(self._write(rows))
        if len(self._writes) > _IN_FLIGHT:  # a bounded number of files in memory waiting for the disk
            self._writes[-_IN_FLIGHT - 1].result()

    def _write(self, rows: pl.DataFrame) -> Future[ManifestEntry]:
        """Build file ``n``'s bytes; hashing, writing and fsync run in the I/O thread meanwhile."""
        number = self.next_number
        self.next_number += 1
        name = self.names.batch(number)
        count = rows.height
        if self.csv_header is None:
            header = BatchHeader(
                file_type=self.names.kind,  # type: ignore[arg-type]
                mid=self.names.mid,
                business_date=self.names.business_date,
                file_number=number,
                row_count=count,
                expiry_date_utc=self.default_expiry if self.names.kind == "evaluate" else None,
                authorization_token="",
            ).to_wire()
            if header.get("expiryDateUtc") is None:
                header.pop("expiryDateUtc", None)
            body = rows["line"].str.join(",\n").item().encode("utf-8")
            first = envelope_line(header).encode("utf-8") + b"\n"
            data = first + body + b"\n]}\n"
            rows_part = (len(first), len(first) + len(body))
            default = header.get("expiryDateUtc")
        else:
            text = rows.drop("order_id", "side", *self._own).write_csv(
                line_terminator="\r\n", quote_style="necessary"
            )
            data = text.encode("utf-8")
            rows_part = (data.index(b"\r\n") + 2, len(data))
            default = None
        ledger_rows = "[" + rows["side"].str.join(",").item() + "]"
        ledger_frame = self._ledger_frame(name, rows, default) if self.on_file else None
        order_ids = rows["order_id"]
        first_id, last_id = order_ids[0], order_ids[-1]
        path = self.out_dir / name

        def persist() -> ManifestEntry:
            digest = hashlib.sha256(data).hexdigest()
            start, end = rows_part
            rows_sha = hashlib.sha256(memoryview(data)[start:end]).copy()
            if self.csv_header is None:
                rows_sha.update(b"\n")  # the row lines' own line end
            write_atomic(path, data)
            meta = {
                "file": name,
                "sha256": digest,
                "rows": count,
                "default_expiry": default,
                "ledger_rows": [],
            }
            sidecar = ENCODE(meta)[: -len("[]}")] + ledger_rows + "}"
            # No fsync: a lost or stale sidecar is noticed (sha256) and the file itself is read instead.
            write_atomic(path.with_name(ledger_rows_name(name)), sidecar.encode("utf-8") + b"\n", sync=False)
            entry = ManifestEntry(
                name=name,
                rows=count,
                sha256=digest,
                rows_sha256=rows_sha.hexdigest(),
                first_order_id=first_id,
                last_order_id=last_id,
            )
            if self.on_file is not None and ledger_frame is not None:
                self.on_file(BuiltFile(entry, path, ledger_frame))
            return entry

        return self._io.submit(persist)

    @property
    def _own(self) -> tuple[str, ...]:
        return ("key", "expiry", "seq") if self.on_file else ()

    def _ledger_frame(self, name: str, rows: pl.DataFrame, default: str | None) -> pl.DataFrame:
        """The file's ledger rows as columns; a row without its own expiry gets the envelope's."""
        fallback = default if self.csv_header is None else None  # the envelope's text (``...Z``)
        return rows.select(
            pl.lit(name).alias("file_name"),
            "order_id",
            pl.col("seq").alias("sequence_number"),
            pl.col("key").alias("idempotency_key"),
            pl.col("expiry").fill_null(pl.lit(fallback, dtype=pl.String)).alias("expiry_date_utc"),
        )


def remove_stale(out_dir: Path, names: FileNames, first_number: int, keep: set[str]) -> None:
    """
    Delete batch files (and sidecars) of this kind/mid/day from an earlier run that produced more files.

    Only numbers from ``first_number`` on are this run's to rebuild; lower ones stay.
    """
    start = re.escape(f"{names.prefix}{names.stem}_")
    pattern = re.compile(start + r"(\d{4})\." + names.file_format + r"$")
    side_pattern = re.compile(r"ledger_rows_(" + start + r"(\d{4})\." + names.file_format + r")\.json$")
    for path in out_dir.iterdir():
        m = pattern.match(path.name)
        side = side_pattern.match(path.name)
        if side and side.group(1) not in keep and int(side.group(2)) >= first_number:
            path.unlink()
            continue
        if m and path.name not in keep and int(m.group(1)) >= first_number:
            log.warning("Removing stale batch file %s from an earlier run", path.name)
            path.unlink()
        elif path.name.endswith(".tmp") and path.name.startswith(f"{names.prefix}{names.stem}_"):
            path.unlink()
