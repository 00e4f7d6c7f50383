"""
The file registry: each batch file we wrote, its upload and ack state; rows live in :mod:`.rows`.

Recording an upload (:meth:`FileRegistry.mark_uploaded`, or :meth:`FileRegistry.mark_uploaded_many`
for several files in one transaction) also appends the ``shipped`` fact of every row of an evaluate
file to the order events, in the same transaction (:mod:`.shipped`): from then on the order's state
says SHIPPED, whatever later step runs or reruns. :meth:`FileRegistry.record_files` records many
files and all their rows in one transaction, before any of them is uploaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, case, select, update
from sqlalchemy.engine import Connection

from flex_provider.batch import ack_name
from flex_provider.ledger.rows import RowRecords, row_dict
from flex_provider.ledger.schema import (
    IN_CHUNK,
    SHIPPED_STATES,
    LedgerConflictError,
    batch_files,
    batch_rows,
    batches,
    file_number,
    outbound_files,
)
from flex_provider.ledger.schema import (
    now as utcnow,
)
from flex_provider.ledger.shipped import append_shipped

if TYPE_CHECKING:
    from datetime import datetime

    import polars as pl

__all__ = ["FileRecord", "FileRegistry", "UploadMark", "row_dict"]


@dataclass(frozen=True)
class FileRecord:
    """One written batch file as :meth:`FileRegistry.record_files` takes it."""

    name: str
    business_date: date
    kind: str
    mid: str
    rows: int
    sha256: str
    rows_sha256: str


@dataclass(frozen=True)
class UploadMark:
    """One landed upload as :meth:`FileRegistry.mark_uploaded_many` takes it."""

    name: str
    remote_size: int
    uploaded_sha256: str | None


class FileRegistry(RowRecords):
    """Batch files and their rows as shipped; outbound files read."""

    # -- files -----------------------------------------------------------------------------------

    def record_file(
        self,
        name: str,
        *,
        business_date: date,
        kind: str,
        mid: str,
        rows: int,
        sha256: str,
        rows_sha256: str,
    ) -> str:
        """
        Record a written batch file; idempotent. Returns its state.

        A rerun with the same content changes nothing. Other content under the same name is accepted
        while the file is only ``written`` (the new file replaces it), and raises
        :class:`LedgerConflictError` once it was uploaded: Flex already has the old content.
        """
        record = FileRecord(name, business_date, kind, mid, rows, sha256, rows_sha256)
        with self._begin() as conn:
            return self._record_files_in(conn, [record])[name]

    def record_files(self, files: Sequence[FileRecord], rows: pl.DataFrame | None = None) -> dict[str, str]:
        """
        Record several written files and their rows in one transaction; returns each file's state.

        Each file as :meth:`record_file` records it (idempotent; a conflicting upload raises
        :class:`LedgerConflictError` and records nothing). The rows (columns
        :data:`flex_provider.ledger.rows.FRAME_COLUMNS`: ``file_name``, ``order_id``,
        ``sequence_number``, ``idempotency_key``, ``expiry_date_utc`` as ISO text) are recorded for
        the files left ``written`` (a file some concurrent run uploaded meanwhile keeps its rows).
        """
        if not files:
            return {}
        with self._begin() as conn:
            states = self._record_files_in(conn, files)
            if rows is not None and rows.height:
                import polars as pl

                written = [n for n, s in states.items() if s == "written"]
                self._record_frame(conn, rows.filter(pl.col("file_name").is_in(written)))
        return states

    def _record_files_in(self, conn: Connection, files: Sequence[FileRecord]) -> dict[str, str]:
        now = utcnow()
        stmt = self._insert(batch_files).values(
            [
                {
                    "name": f.name,
                    "business_date": f.business_date,
                    "kind": f.kind,
                    "mid": f.mid,
                    "rows": f.rows,
                    "sha256": f.sha256,
                    "rows_sha256": f.rows_sha256,
                    "state": "written",
                    "created_at": now,
                    "updated_at": now,
                }
                for f in files
            ]
        )
        conn.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
        stored: dict[str, Any] = {}
        for part in batches([f.name for f in files], IN_CHUNK):
            query = select(batch_files.c.name, batch_files.c.sha256, batch_files.c.state)
            stored.update({r.name: r for r in conn.execute(query.where(batch_files.c.name.in_(part)))})
        states: dict[str, str] = {}
        for f in files:
            row = stored[f.name]
            if row.sha256 == f.sha256:
                states[f.name] = row.state
                continue
            if row.state != "written":
                raise LedgerConflictError(
                    f"{f.name} was {row.state} with sha256 {row.sha256}; the new file has {f.sha256}"
                )
            conn.execute(
                update(batch_files)
                .where(batch_files.c.name == f.name)
                .values(rows=f.rows, sha256=f.sha256, rows_sha256=f.rows_sha256, updated_at=now)
            )
            # Rows of the replaced content are re-recorded by the caller.
            conn.execute(batch_rows.delete().where(batch_rows.c.file_name == f.name))
            states[f.name] = "written"
        return states

    def file_state(self, name: str) -> str | None:
        """``written``, ``uploaded``, ``acknowledged``, or None for an unknown file."""
        with self._begin() as conn:
            return conn.execute(select(batch_files.c.state).where(batch_files.c.name == name)).scalar()

    def file_info(self, name: str) -> dict[str, Any] | None:
        """Every column of one file record, or None."""
        with self._begin() as conn:
            row = conn.execute(select(batch_files).where(batch_files.c.name == name)).mappings().first()
        return dict(row) if row is not None else None

    def files_for_day(
        self, mid: str, kind: str, business_date: date, *, states: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """
        Every file record of one merchant, kind and business date (all columns), by name.

        :param states: only files in these states (``written``, ``uploaded``, ``acknowledged``).
        """
        query = select(batch_files).where(
            batch_files.c.mid == mid, batch_files.c.kind == kind, batch_files.c.business_date == business_date
        )
        if states is not None:
            query = query.where(batch_files.c.state.in_(list(states)))
        with self._begin() as conn:
            return [dict(r) for r in conn.execute(query.order_by(batch_files.c.name)).mappings()]

    def next_file_number(self, mid: str, kind: str, business_date: date) -> int:
        """
        The first file number a new file of that day may use: one above every file Flex may have seen.

        Files only ``written`` (never uploaded) do not count: a rerun rebuilds them under the same
        numbers. Late rows of a day that was already shipped therefore go into new files instead of
        colliding with the uploaded ones (:class:`LedgerConflictError`).
        """
        numbers = [
            file_number(f["name"]) or 0
            for f in self.files_for_day(mid, kind, business_date, states=SHIPPED_STATES)
        ]
        return max(numbers, default=0) + 1

    def discard_unshipped_files(self, mid: str, kind: str, business_date: date) -> list[str]:
        """
        Forget the day's files that were recorded but never uploaded, with their rows.

        Called before a day's files are rebuilt: their orders are written again (possibly into other
        files), and rows of a file nobody uploaded must not count as shipped. Returns the names.
        """
        with self._begin() as conn:
            names = list(
                conn.execute(
                    select(batch_files.c.name).where(
                        batch_files.c.mid == mid,
                        batch_files.c.kind == kind,
                        batch_files.c.business_date == business_date,
                        batch_files.c.state == "written",
                    )
                ).scalars()
            )
            for batch in batches(names, IN_CHUNK):
                conn.execute(batch_rows.delete().where(batch_rows.c.file_name.in_(batch)))
                conn.execute(batch_files.delete().where(batch_files.c.name.in_(batch)))
        return names

    def rejected_files(self, mid: str, kind: str, business_date: date) -> list[dict[str, Any]]:
        """Files of that day Flex rejected as a whole (ack ``status`` REJECTED): to be uploaded again."""
        return [
            f
            for f in self.files_for_day(mid, kind, business_date, states=("acknowledged",))
            if f["ack_status"] == "REJECTED"
        ]

    def mark_reuploaded(self, name: str, remote_size: int, uploaded_sha256: str | None) -> bool:
        """
        Record a new upload of a file Flex had rejected as a whole (``acknowledged``/REJECTED -> ``uploaded``).

        The old ack status is cleared and the processed record of its ack file is forgotten, so the ack of
        the new upload (same name) is read. Rows keep their status (``SHIPPED``). Returns False, changing
        nothing, when the file is not a rejected one.
        """
        now = utcnow()
        with self._begin() as conn:
            result = conn.execute(
                update(batch_files)
                .where(
                    batch_files.c.name == name,
                    batch_files.c.state == "acknowledged",
                    batch_files.c.ack_status == "REJECTED",
                )
                .values(
                    state="uploaded",
                    ack_status=None,
                    ack_error=None,
                    acknowledged_at=None,
                    remote_size=remote_size,
                    uploaded_sha256=uploaded_sha256,
                    uploaded_at=now,
                    updated_at=now,
                )
            )
            if result.rowcount == 0:
                return False
            conn.execute(outbound_files.delete().where(outbound_files.c.name == ack_name(name)))
        return True

    def mark_uploaded(self, name: str, remote_size: int, uploaded_sha256: str | None) -> None:
        """
        Record the upload of a file (``written`` -> ``uploaded``; an acknowledged file stays so).

        The rows of an evaluate file become ``shipped`` events in the same transaction (stored once: a
        repeated record adds nothing, so an order's ``sent_at`` never moves).
        """
        self.mark_uploaded_many([UploadMark(name, remote_size, uploaded_sha256)])

    def mark_uploaded_many(self, marks: Sequence[UploadMark]) -> None:
        """
        Record several uploads in one transaction, each as :meth:`mark_uploaded` does, their
        ``shipped`` events appended set-based. Raises :class:`KeyError` (recording nothing) when a
        file is not recorded.
        """
        if not marks:
            return
        now = utcnow()
        names = [m.name for m in marks]
        with self._begin() as conn:
            stmt = (
                update(batch_files)
                .where(batch_files.c.name == bindparam("b_name"))
                .values(
                    remote_size=bindparam("b_size"),
                    uploaded_sha256=bindparam("b_sha"),
                    uploaded_at=now,
                    updated_at=now,
                    state=case((batch_files.c.state == "written", "uploaded"), else_=batch_files.c.state),
                )
            )
            conn.execute(
                stmt,
                [{"b_name": m.name, "b_size": m.remote_size, "b_sha": m.uploaded_sha256} for m in marks],
            )
            known: set[str] = set()
            for part in batches(names, IN_CHUNK):
                known.update(
                    conn.execute(select(batch_files.c.name).where(batch_files.c.name.in_(part))).scalars()
                )
            missing = sorted(set(names) - known)
            if missing:
                raise KeyError(f"{', '.join(missing)} not recorded in the ledger")
            append_shipped(conn, self._insert, names, now)

    def mark_acknowledged(self, name: str, ack_status: str = "PROCESSED", error: str | None = None) -> None:
        """Record Flex's acknowledgement of a file (its file-level status and errors)."""
        now = utcnow()
        with self._begin() as conn:
            self._mark_acknowledged(conn, name, ack_status, error, now)

    @staticmethod
    def _mark_acknowledged(
        conn: Connection, name: str, ack_status: str, error: str | None, now: datetime
    ) -> bool:
        result = conn.execute(
            update(batch_files)
            .where(batch_files.c.name == name)
            .values(
                state="acknowledged",
                ack_status=ack_status,
                ack_error=error,
                acknowledged_at=now,
                updated_at=now,
            )
        )
        return result.rowcount > 0
