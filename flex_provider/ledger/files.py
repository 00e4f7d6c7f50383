"""
The file registry: which batch file holds which rows, its upload and ack state, outbound files read.

Recording an upload (:meth:`FileRegistry.mark_uploaded`) also appends the ``shipped`` fact of every row
of an evaluate file to the order events, in the same transaction: from then on the order's state says
SHIPPED, whatever later step runs or reruns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    any_,
    case,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection

from flex_provider.batch import ack_name
from flex_provider.ledger.base import LedgerBase
from flex_provider.ledger.schema import (
    BATCH_SIZE,
    IN_CHUNK,
    SHIPPED_STATES,
    LedgerConflictError,
    batch_files,
    batch_rows,
    batches,
    copy_rows,
    file_number,
    outbound_files,
    utc,
)
from flex_provider.ledger.schema import (
    now as utcnow,
)

_staging_md = MetaData()
staging_rows = Table(
    "flex_tmp_rows",
    _staging_md,
    Column("order_id", String(255), nullable=False),
    Column("sequence_number", Integer, nullable=False),
    Column("idempotency_key", String(64)),
    Column("expiry_date_utc", DateTime(timezone=True)),
    prefixes=["TEMPORARY"],
)


def row_dict(row: Mapping[str, Any]) -> dict[str, Any]:
    """A ``flex_batch_rows`` row as a dict, times aware UTC."""
    out = dict(row)
    for key in ("expiry_date_utc", "result_at", "created_at", "updated_at"):
        out[key] = utc(out.get(key))
    return out


class FileRegistry(LedgerBase):
    """Batch files and their rows as shipped; outbound files read."""

    @contextmanager
    def _staging(self, conn: Connection, table: Table) -> Iterator[None]:
        """A session temp table, empty on entry, dropped on exit (inside the caller's transaction)."""
        table.create(conn, checkfirst=True)
        conn.execute(table.delete())
        yield
        table.drop(conn)

    def _stage(self, conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
        """Load rows into a staging table: COPY on PostgreSQL, executemany elsewhere."""
        if not rows:
            return
        names = [c.name for c in table.columns]
        done = copy_rows(conn, table.name, names, ([row.get(n) for n in names] for row in rows))
        if done is None:
            conn.execute(table.insert(), rows)
            return
        conn.exec_driver_sql(f"ANALYZE {table.name}")

    def _append_shipped(self, conn: Connection, name: str, sent_at: datetime) -> None:
        """Append the ``shipped`` facts of an evaluate file's rows (see the orders mixin)."""
        raise NotImplementedError

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
        now = utcnow()
        with self._begin() as conn:
            stmt = self._insert(batch_files).values(
                name=name,
                business_date=business_date,
                kind=kind,
                mid=mid,
                rows=rows,
                sha256=sha256,
                rows_sha256=rows_sha256,
                state="written",
                created_at=now,
                updated_at=now,
            )
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
            row = conn.execute(
                select(batch_files.c.sha256, batch_files.c.state).where(batch_files.c.name == name)
            ).one()
            if row.sha256 == sha256:
                return row.state
            if row.state != "written":
                raise LedgerConflictError(
                    f"{name} was {row.state} with sha256 {row.sha256}; the new file has {sha256}"
                )
            conn.execute(
                update(batch_files)
                .where(batch_files.c.name == name)
                .values(rows=rows, sha256=sha256, rows_sha256=rows_sha256, updated_at=now)
            )
            # Rows of the replaced content are re-recorded by the caller.
            conn.execute(batch_rows.delete().where(batch_rows.c.file_name == name))
            return "written"

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

    def rows_for_files(
        self, names: Iterable[str], *, states: Sequence[str] | None = None
    ) -> Iterator[dict[str, Any]]:
        """
        Stream the ledger rows of the given files (all row columns, times aware UTC), by file and sequence.

        :param states: only rows of files in these file states (e.g. ``("uploaded", "acknowledged")``:
            what Flex may have received).
        """
        self._ensure()
        for batch in batches(list(dict.fromkeys(names)), IN_CHUNK):
            query = select(batch_rows).where(batch_rows.c.file_name.in_(batch))
            if states is not None:
                shipped = select(batch_files.c.name).where(
                    batch_files.c.name.in_(batch), batch_files.c.state.in_(list(states))
                )
                query = query.where(batch_rows.c.file_name.in_(shipped))
            query = query.order_by(batch_rows.c.file_name, batch_rows.c.sequence_number)
            with self.engine.connect() as conn:
                for row in conn.execution_options(yield_per=BATCH_SIZE).execute(query).mappings():
                    yield row_dict(row)

    def mark_uploaded(self, name: str, remote_size: int, uploaded_sha256: str | None) -> None:
        """
        Record the upload of a file (``written`` -> ``uploaded``; an acknowledged file stays so).

        The rows of an evaluate file become ``shipped`` events in the same transaction (stored once: a
        repeated record adds nothing, so an order's ``sent_at`` never moves).
        """
        now = utcnow()
        with self._begin() as conn:
            result = conn.execute(
                update(batch_files)
                .where(batch_files.c.name == name)
                .values(
                    remote_size=remote_size,
                    uploaded_sha256=uploaded_sha256,
                    uploaded_at=now,
                    updated_at=now,
                    state=case((batch_files.c.state == "written", "uploaded"), else_=batch_files.c.state),
                )
            )
            if result.rowcount == 0:
                raise KeyError(f"{name} is not recorded in the ledger")
            self._append_shipped(conn, name, now)

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

    # -- rows ------------------------------------------------------------------------------------

    def record_rows(self, name: str, rows: Iterable[Mapping[str, Any]]) -> int:
        """
        Record the rows of a recorded file as ``SHIPPED``; idempotent (existing orders are kept).

        :param rows: mappings with ``order_id``, ``sequence_number``, optional ``idempotency_key`` and
            ``expiry_date_utc`` (see :func:`flex_provider.batch.writer.iter_batch_rows`).
        :return: the number of rows newly inserted.
        """
        info = self.file_info(name)
        if info is None:
            raise KeyError(f"record_file({name!r}) must come before record_rows")
        now = utcnow()
        inserted = 0
        st = staging_rows
        source = select(
            literal(info["mid"]),
            literal(info["kind"]),
            st.c.order_id,
            literal(info["business_date"], Date()),
            literal(name),
            st.c.sequence_number,
            st.c.idempotency_key,
            st.c.expiry_date_utc,
            literal("SHIPPED"),
            literal(now, DateTime(timezone=True)),
            literal(now, DateTime(timezone=True)),
        ).where(true())  # SQLite needs a WHERE before ON CONFLICT in INSERT ... SELECT
        stmt = (
            self._insert(batch_rows)
            .from_select(
                [
                    "mid",
                    "kind",
                    "order_id",
                    "business_date",
                    "file_name",
                    "sequence_number",
                    "idempotency_key",
                    "expiry_date_utc",
                    "status",
                    "created_at",
                    "updated_at",
                ],
                source,
            )
            .on_conflict_do_nothing(index_elements=["mid", "kind", "order_id"])
        )
        with self._begin() as conn, self._staging(conn, staging_rows):
            for batch in batches(rows, BATCH_SIZE):
                self._stage(
                    conn,
                    staging_rows,
                    [
                        {
                            "order_id": r["order_id"],
                            "sequence_number": int(r["sequence_number"]),
                            "idempotency_key": r.get("idempotency_key"),
                            "expiry_date_utc": utc(r.get("expiry_date_utc")),
                        }
                        for r in batch
                    ],
                )
                inserted += conn.execute(stmt).rowcount
                conn.execute(staging_rows.delete())
        return inserted

    def already_shipped(
        self,
        mid: str,
        kind: str,
        order_ids: Iterable[str],
        *,
        exclude_business_date: date | None = None,
    ) -> set[str]:
        """
        The order ids among ``order_ids`` recorded for ``mid``/``kind`` in any file.

        :param exclude_business_date: ignore rows of files of this business date, so a rerun of the
            same day rebuilds its own files instead of rejecting its own rows.
        """
        found: set[str] = set()
        ids = list(dict.fromkeys(order_ids))
        # PostgreSQL takes the whole list as one array parameter; elsewhere IN lists of bounded size.
        on_pg = self.dialect == "postgresql"
        with self._begin() as conn:
            for batch in batches(ids, max(len(ids), 1) if on_pg else IN_CHUNK):
                member = (
                    batch_rows.c.order_id == any_(literal(batch, ARRAY(String)))
                    if on_pg
                    else batch_rows.c.order_id.in_(batch)
                )
                query = select(batch_rows.c.order_id).where(
                    batch_rows.c.mid == mid, batch_rows.c.kind == kind, member
                )
                if exclude_business_date is not None:
                    query = query.where(batch_rows.c.business_date != exclude_business_date)
                found.update(conn.execute(query).scalars())
        return found

    def already_shipped_callback(
        self, mid: str, kind: str, business_date: date
    ) -> Callable[[list[str]], set[str]]:
        """The ``already_shipped`` callable for :class:`BatchWriter` (ignores the day's own rows)."""

        def _check(order_ids: list[str]) -> set[str]:
            return self.already_shipped(mid, kind, order_ids, exclude_business_date=business_date)

        return _check

    def processed_outbound_names(self) -> set[str]:
        """Names of outbound files already processed or quarantined (not to be read again)."""
        with self._begin() as conn:
            return set(conn.execute(select(outbound_files.c.name)).scalars())

    def mark_outbound_processed(
        self, name: str, sha256: str | None, kind: str, status: str, error: str | None = None
    ) -> None:
        """Record an outbound file as ``processed`` or ``quarantined``; a repeat updates the record."""
        if status not in ("processed", "quarantined"):
            raise ValueError(f"status must be 'processed' or 'quarantined', not {status!r}")
        stmt = self._insert(outbound_files).values(
            name=name, kind=kind, sha256=sha256, status=status, error=error, processed_at=utcnow()
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["name"],
            set_={"sha256": sha256, "kind": kind, "status": status, "error": error, "processed_at": utcnow()},
        )
        with self._begin() as conn:
            conn.execute(stmt)
