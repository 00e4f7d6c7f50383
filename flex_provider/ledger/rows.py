"""
The row records: which order went out in which batch file, under which sequence number and key.

``flex_batch_rows`` is what the writer asks "already shipped?" and what later steps read back per file.
Rows arrive either as mappings (:meth:`RowRecords.record_rows`, one file) or as one column-wise frame
for many files at once (:meth:`RowRecords._record_frame`, the shipper's batched record): on
PostgreSQL that frame goes in as one CSV ``COPY`` into a session temp table, then one
``INSERT ... SELECT ... ON CONFLICT DO NOTHING``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    literal,
    select,
    text,
    true,
)
from sqlalchemy.engine import Connection

from flex_provider.ledger.outbound import OutboundRegistry
from flex_provider.ledger.schema import (
    BATCH_SIZE,
    IN_CHUNK,
    batch_files,
    batch_rows,
    batches,
    utc,
)
from flex_provider.ledger.schema import (
    now as utcnow,
)
from flex_provider.pg_copy import copy_chunks, copy_rows

if TYPE_CHECKING:
    import polars as pl

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
#: Rows of many files at once (the batched record): the file name says whose row it is.
staging_file_rows = Table(
    "flex_tmp_file_rows",
    _staging_md,
    Column("file_name", String(255), nullable=False),
    Column("order_id", String(255), nullable=False),
    Column("sequence_number", Integer, nullable=False),
    Column("idempotency_key", String(64)),
    Column("expiry_date_utc", DateTime(timezone=True)),
    prefixes=["TEMPORARY"],
)
#: The columns of a row frame (:meth:`RowRecords._record_frame`), in ``staging_file_rows`` order.
FRAME_COLUMNS = tuple(c.name for c in staging_file_rows.columns)
_ROW_COLUMNS = [
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
]


def row_dict(row: Mapping[str, Any]) -> dict[str, Any]:
    """A ``flex_batch_rows`` row as a dict, times aware UTC."""
    out = dict(row)
    for key in ("expiry_date_utc", "result_at", "created_at", "updated_at"):
        out[key] = utc(out.get(key))
    return out


class RowRecords(OutboundRegistry):
    """The rows of the batch files as shipped: record, ask, read back."""

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

    def record_rows(self, name: str, rows: Iterable[Mapping[str, Any]]) -> int:
        """
        Record the rows of a recorded file as ``SHIPPED``; idempotent (existing orders are kept).

        :param rows: mappings with ``order_id``, ``sequence_number``, optional ``idempotency_key`` and
            ``expiry_date_utc`` (see :func:`flex_provider.batch.manifest.iter_batch_rows`).
        :return: the number of rows newly inserted.
        """
        info = self.file_info(name)  # type: ignore[attr-defined]
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
            .from_select(_ROW_COLUMNS, source)
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

    def _record_frame(self, conn: Connection, frame: pl.DataFrame) -> int:
        """
        Record many files' rows from one frame (``FRAME_COLUMNS``; ``expiry_date_utc`` as ISO text or
        null), inside the caller's transaction, after the files themselves. Existing orders are kept.
        """
        if frame.height == 0:
            return 0
        now = utcnow()
        st, bf = staging_file_rows, batch_files
        source = (
            select(
                bf.c.mid,
                bf.c.kind,
                st.c.order_id,
                bf.c.business_date,
                st.c.file_name,
                st.c.sequence_number,
                st.c.idempotency_key,
                st.c.expiry_date_utc,
                literal("SHIPPED"),
                literal(now, DateTime(timezone=True)),
                literal(now, DateTime(timezone=True)),
            )
            .select_from(st.join(bf, bf.c.name == st.c.file_name))
            .where(true())
        )
        stmt = (
            self._insert(batch_rows)
            .from_select(_ROW_COLUMNS, source)
            .on_conflict_do_nothing(index_elements=["mid", "kind", "order_id"])
        )
        frame = frame.select(FRAME_COLUMNS)
        with self._staging(conn, st):
            data = frame.write_csv(include_header=False, null_value="").encode("utf-8")
            if not copy_chunks(conn, st.name, FRAME_COLUMNS, [data]):  # SQLite: plain inserts (the ledger of a test or a small deployment)
                for part in frame.iter_slices(BATCH_SIZE):
                    conn.execute(
                        st.insert(),
                        [{**r, "expiry_date_utc": _parse_utc(r["expiry_date_utc"])} for r in part.to_dicts()],
                    )
            return conn.execute(stmt).rowcount

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
        if not ids:
            return found
        with self._begin() as conn:
            if conn.dialect.name == "postgresql":
                # The whole list as one JSON text: one parameter, parsed by the server in one go.
                # A join from the ids (an index probe each), never a scan of the merchant's rows.
                sql = (
                    "SELECT r.order_id FROM json_array_elements_text(CAST(:ids AS json)) AS i(id) "
                    "JOIN flex_batch_rows r ON r.mid = :mid AND r.kind = :kind AND r.order_id = i.id"
                )
                params: dict[str, Any] = {"mid": mid, "kind": kind, "ids": json.dumps(ids)}
                if exclude_business_date is not None:
                    sql += " AND r.business_date <> :day"
                    params["day"] = exclude_business_date
                found.update(conn.execute(text(sql), params).scalars())
                return found
            for batch in batches(ids, IN_CHUNK):
                query = select(batch_rows.c.order_id).where(
                    batch_rows.c.mid == mid, batch_rows.c.kind == kind, batch_rows.c.order_id.in_(batch)
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

    def rows_for_files(
        self, names: Iterable[str], *, states: Iterable[str] | None = None
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


def _parse_utc(value: Any) -> Any:
    """An ISO text (the frame's expiry) as an aware datetime; None stays None."""
    from datetime import datetime

    if value is None or value == "":
        return None
    if isinstance(value, str):
        return utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    return utc(value)
