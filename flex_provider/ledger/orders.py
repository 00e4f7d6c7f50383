"""
The order book: append events and fold them into each order's state, in one transaction.

Appends are serialized (a row lock on ``flex_ledger_marks.append``; SQLite's write lock), so event ids
rise in commit order: the fold reads exactly the events its own transaction stored (``id`` above the
maximum before it), and a watermark on ``flex_order_state.seq`` never skips a commit.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Column, MetaData, Table, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from flex_provider.ledger.events import (
    RESULT_EVENT_COLUMNS,
    OrderEvent,
    ack_events,
    result_event_table,
    result_key,
    result_tuple,
    shipped_events,
)
from flex_provider.ledger.files import FileRegistry
from flex_provider.ledger.schema import (
    BATCH_SIZE,
    EVENT_COLUMNS,
    batch_files,
    batch_rows,
    batches,
    now,
    order_events,
    utc,
)
from flex_provider.ledger.state import begin_append, fold
from flex_provider.pg_copy import copy_chunks, copy_rows

_staging_md = MetaData()
staging_events = Table(
    "flex_tmp_events",
    _staging_md,
    *(Column(c, order_events.c[c].type) for c in EVENT_COLUMNS),
    prefixes=["TEMPORARY"],
)


class OrderBook(FileRegistry):
    """Events in, states out."""

    # -- appending -------------------------------------------------------------------------------

    def append_events(self, events: Iterable[OrderEvent]) -> int:
        """
        Store each event once and fold the touched orders' state, in one transaction.

        :return: the number of events newly stored (a replay stores 0 and changes nothing).
        """
        with self._begin() as conn:
            inserted, _ = self._append_in(conn, (e.row() for e in events))
        return inserted

    def _append_in(
        self,
        conn: Connection,
        rows: Iterable[Sequence[Any]] | None,
        *,
        count_unknown: bool = False,
        stage: Callable[[Connection], int] | None = None,
    ) -> tuple[int, dict[str, int]]:
        """
        Stage rows (``EVENT_COLUMNS`` order; or ``stage(conn)`` fills ``flex_tmp_events`` and returns its
        count), insert the new ones, fold; inside ``conn``'s transaction.
        """
        before = begin_append(conn)
        staging_events.create(conn, checkfirst=True)
        conn.execute(staging_events.delete())
        try:
            if stage is not None:
                staged: int | None = stage(conn)
            else:
                staged = copy_rows(conn, staging_events.name, EVENT_COLUMNS, rows or ())
            if staged is None:
                rows = rows or ()
                staged = 0
                for batch in batches(rows, BATCH_SIZE):
                    conn.execute(
                        staging_events.insert(), [dict(zip(EVENT_COLUMNS, r, strict=True)) for r in batch]
                    )
                    staged += len(batch)
            if staged and conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"ANALYZE {staging_events.name}")
            if not staged:
                staging_events.drop(conn)
                return 0, {"orders": 0, "changed": 0, "changed_known": 0, "unknown": 0, "staged": 0}
            inserted = _insert_new_events(conn)
            counts = fold(conn, after_id=before) if inserted else {
                "orders": 0, "changed": 0, "changed_known": 0, "unknown": 0,
            }  # fmt: skip
            counts["staged"] = staged
            if count_unknown:
                counts["unknown_rows"] = int(
                    conn.execute(
                        text(
                            "SELECT COUNT(*) FROM flex_tmp_events t WHERE NOT EXISTS (SELECT 1 FROM "
                            "flex_order_state s WHERE s.mid = t.mid AND s.order_id = t.order_id "
                            "AND s.sent_at IS NOT NULL)"
                        )
                    ).scalar_one()
                )
        except BaseException:
            # A failed PostgreSQL transaction takes no more statements (its rollback drops the table);
            # SQLite's leftover is emptied by the next append.
            if conn.dialect.name != "postgresql":
                staging_events.drop(conn, checkfirst=True)
            raise
        staging_events.drop(conn)
        return inserted, counts

    def _append_shipped(self, conn: Connection, name: str, sent_at: datetime) -> None:
        info = conn.execute(
            select(batch_files.c.mid, batch_files.c.kind, batch_files.c.business_date).where(
                batch_files.c.name == name
            )
        ).first()
        if info is None or info.kind != "evaluate":
            return
        rows = conn.execute(
            select(
                batch_rows.c.order_id,
                batch_rows.c.sequence_number,
                batch_rows.c.idempotency_key,
                batch_rows.c.expiry_date_utc,
            ).where(batch_rows.c.file_name == name)
        ).mappings()
        events = shipped_events(info.mid, name, info.business_date, [dict(r) for r in rows], sent_at)
        self._append_in(conn, [e.row() for e in events])

    def record_shipped(self, names: Iterable[str]) -> int:
        """
        Append the ``shipped`` facts of these uploaded files (idempotent; :meth:`mark_uploaded` already
        does it, this catches up files uploaded before the event ledger existed). Returns events stored.
        """
        total = 0
        for name in names:
            info = self.file_info(name)
            if (
                info is None
                or info["state"] not in ("uploaded", "acknowledged")
                or info["kind"] != "evaluate"
            ):
                continue
            rows = [r for r in self.rows_for_files([name])]
            events = shipped_events(
                info["mid"], name, info["business_date"], rows, utc(info["uploaded_at"]) or now()
            )
            total += self.append_events(events)
        return total

    # -- Flex's files ----------------------------------------------------------------------------

    def apply_ack(self, ack: Any) -> dict[str, int]:
        """
        Record an acknowledgement file: file-level status on the file, one ``ack`` event per row (evaluate
        files), folded into the orders' state. ``updated``: shipped orders whose state changed.
        """
        error = "; ".join(str(e) for e in ack.file_errors) or None
        counts = {"rows": len(ack.rows), "updated": 0, "unknown_file": 0}
        with self._begin() as conn:
            kind = conn.execute(
                select(batch_files.c.kind).where(batch_files.c.name == ack.inbound_file)
            ).scalar()
            if not self._mark_acknowledged(conn, ack.inbound_file, ack.status, error, now()):
                counts["unknown_file"] = 1
                return counts
            if kind == "evaluate" and ack.rows:
                _, folded = self._append_in(conn, [e.row() for e in ack_events(ack)])
                counts["updated"] = folded["changed_known"]
        return counts

    def apply_results(
        self,
        result: Any,
        *,
        mid: str | None = None,
        batch_size: int = BATCH_SIZE,
        file_name: str | None = None,
    ) -> dict[str, int]:
        """
        Record final outcomes as ``result`` events (key ``<file>:<row index>``) and fold, one transaction.

        :param result: a ``ResultFile``, or an iterable of ``ResultRow`` (streamed) with ``mid``.
        :param batch_size: kept for callers; rows are streamed into one COPY whatever the size.
        :param file_name: the result file's name (the natural key of its rows).
        :return: counts: ``received``, ``applied`` (shipped orders whose state changed), ``unknown``
            (rows of orders never shipped), ``ignored`` (the rest: replays, superseded outcomes).
        """
        del batch_size
        rows = getattr(result, "rows", None)
        if rows is not None:
            mid = result.mid
        else:
            if mid is None:
                raise ValueError("mid is required with an iterable of result rows")
            rows = result
        received = [0]

        def tuples() -> Iterator[tuple[Any, ...]]:
            for index, row in enumerate(rows, start=1):
                received[0] += 1
                yield result_tuple(str(mid), row, result_key(row, file_name, index))

        with self._begin() as conn:
            _, folded = self._append_in(conn, tuples(), count_unknown=True)
        applied, unknown = folded["changed_known"], folded.get("unknown_rows", 0)
        return {
            "received": received[0],
            "applied": applied,
            "ignored": received[0] - applied - unknown,
            "unknown": unknown,
        }

    def apply_result_blocks(
        self,
        blocks: Iterable[Any],
        *,
        mid: str,
        file_name: str,
        reread: Callable[[], Iterable[Any]] | None = None,
    ) -> dict[str, int]:
        """
        :meth:`apply_results` for a result file read column-wise
        (:func:`flex_provider.batch.result_columns.iter_result_blocks`): the same events, a block at a time.
        A block that raises (a malformed row) rolls the whole file back.

        On PostgreSQL a file none of whose rows is stored yet (checked under the append lock; a file's
        rows are stored in one transaction, so its first key says) is COPied straight into
        ``flex_order_events``: its keys ``<file>:<row index>`` are distinct, and the unique key still
        guards. Otherwise (SQLite, a file seen before) the events are staged (CSV COPY or
        ``executemany``) and only the new ones inserted. ``reread`` gives the blocks again when the
        straight COPY meets a stored key after all (then staged); without it that raises.
        """
        received = [0]

        def tables(source: Iterable[Any]) -> Iterator[Any]:
            for block in source:
                yield result_event_table(str(mid), block, file_name, received[0] + 1)
                received[0] += block.num_rows

        def stage(conn: Connection) -> int:
            if copy_chunks(conn, staging_events.name, RESULT_EVENT_COLUMNS, _csv_chunks(tables(blocks))):
                return received[0]
            staged = 0
            for table in tables(blocks):
                if table.num_rows:
                    conn.execute(staging_events.insert(), table.to_pylist())
                staged += table.num_rows
            return staged

        with self._begin() as conn:
            folded = None
            if conn.dialect.name == "postgresql" and len(file_name) + 12 <= 255:
                try:
                    with conn.begin_nested():
                        folded = _copy_new_file(conn, str(mid), file_name, lambda: tables(blocks))
                except Exception as exc:
                    if reread is None or not _is_unique_violation(exc):
                        raise
                    received[0], blocks = 0, reread()
            if folded is None:
                _, folded = self._append_in(conn, None, count_unknown=True, stage=stage)
        applied, unknown = folded["changed_known"], folded.get("unknown_rows", 0)
        return {
            "received": received[0],
            "applied": applied,
            "ignored": received[0] - applied - unknown,
            "unknown": unknown,
        }


def _copy_new_file(
    conn: Connection, mid: str, file_name: str, tables: Callable[[], Iterable[Any]]
) -> dict[str, int] | None:
    """
    COPY a result file's events straight into ``flex_order_events`` and fold them; None (nothing
    consumed) when a row of the file is stored already or the driver has no COPY.
    """
    before = begin_append(conn)
    stored = conn.execute(
        select(order_events.c.id).where(
            order_events.c.mid == mid, order_events.c.kind == "result", order_events.c.event_key == f"{file_name}:1"
        )
    ).first()
    if stored is not None:
        return None
    columns = (*RESULT_EVENT_COLUMNS, "recorded_at")
    chunks = _csv_chunks(tables(), recorded_at=now())
    if not copy_chunks(conn, order_events.name, columns, chunks, prefetch=2):
        return None
    counts = fold(conn, after_id=before)
    counts["unknown_rows"] = counts.pop("unknown_events")
    return counts


def _is_unique_violation(exc: BaseException) -> bool:
    """A unique-key violation, raised by either PostgreSQL driver, bare or wrapped by SQLAlchemy."""
    for err in (exc, getattr(exc, "orig", None)):
        if err is not None and _UNIQUE_VIOLATION in (getattr(err, "sqlstate", None), getattr(err, "pgcode", None)):
            return True
    return False


_INSERT_EVENTS = (
    f"INSERT INTO flex_order_events ({', '.join(EVENT_COLUMNS)}, recorded_at) "
    f"SELECT {', '.join(f't.{c}' for c in EVENT_COLUMNS)}, :now FROM flex_tmp_events t "
)
#: The staged events whose key is not stored yet.
_NEW_ONLY = (
    "WHERE NOT EXISTS (SELECT 1 FROM flex_order_events e "
    "WHERE e.mid = t.mid AND e.kind = t.kind AND e.event_key = t.event_key)"
)
_UNIQUE_VIOLATION = "23505"


def _insert_new_events(conn: Connection) -> int:
    """
    Insert the staged events whose ``(mid, kind, event_key)`` is new; returns how many were stored.

    On PostgreSQL a plain ``INSERT ... WHERE NOT EXISTS`` (an anti-join on the unique index) skips the
    speculative insertion ``ON CONFLICT`` does for every row (its token and confirm record cost about
    an eighth of the events' WAL). Appends are serialized by the append lock, so no other transaction
    stores a key between the check and the insert; a key staged twice in this very append (a webhook
    delivered twice in one batch) violates the unique key, and the insert is redone, in a savepoint,
    with ``ON CONFLICT DO NOTHING``, which keeps one of them. SQLite has no speculative insertion: it
    always takes ``ON CONFLICT DO NOTHING``.
    """
    params = {"now": now()}
    on_conflict = _INSERT_EVENTS + "WHERE 1 = 1 ON CONFLICT (mid, kind, event_key) DO NOTHING"
    if conn.dialect.name != "postgresql":
        return int(conn.execute(text(on_conflict), params).rowcount)
    try:
        with conn.begin_nested():
            return int(conn.execute(text(_INSERT_EVENTS + _NEW_ONLY), params).rowcount)
    except IntegrityError as exc:
        if not _is_unique_violation(exc):
            raise
    return int(conn.execute(text(on_conflict), params).rowcount)


def _csv_chunks(tables: Iterable[Any], *, recorded_at: datetime | None = None) -> Iterator[bytes]:
    """
    Arrow tables (``RESULT_EVENT_COLUMNS``) as CSV chunks for COPY, a table at a time (``recorded_at``:
    that column too, the same time on every row).
    """
    import pyarrow as pa
    import pyarrow.csv as pcsv

    options = pcsv.WriteOptions(include_header=False, quoting_style="needed")
    for table in tables:
        if table.num_rows:
            table = table.select(list(RESULT_EVENT_COLUMNS))
            if recorded_at is not None:
                stamp = pa.array([recorded_at] * table.num_rows, type=pa.timestamp("us", tz="UTC"))
                table = table.append_column("recorded_at", stamp)
            out = io.BytesIO()
            pcsv.write_csv(table, out, write_options=options)
            yield out.getvalue()
