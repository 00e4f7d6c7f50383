"""
The order book: append events and fold them into each order's state, in one transaction.

Appends are serialized (a row lock on ``flex_ledger_marks.append``; SQLite's write lock), so event ids
rise in commit order: the fold reads exactly the events its own transaction stored (``id`` above the
maximum before it), and a watermark on ``flex_order_state.seq`` never skips a commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Column, MetaData, Table, func, select, text, update
from sqlalchemy.engine import Connection

from flex_provider.ledger.events import (
    OrderEvent,
    ack_events,
    result_key,
    result_tuple,
    shipped_events,
)
from flex_provider.ledger.files import FileRegistry, row_dict
from flex_provider.ledger.schema import (
    BATCH_SIZE,
    EVENT_COLUMNS,
    IN_CHUNK,
    batch_files,
    batch_rows,
    batches,
    copy_rows,
    ledger_marks,
    now,
    order_events,
    order_state,
    utc,
)
from flex_provider.ledger.state import fold, state_dict

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
        self, conn: Connection, rows: Iterable[Sequence[Any]], *, count_unknown: bool = False
    ) -> tuple[int, dict[str, int]]:
        """Stage rows (``EVENT_COLUMNS`` order), insert the new ones, fold; inside ``conn``'s transaction."""
        conn.execute(
            update(ledger_marks).where(ledger_marks.c.name == "append").values(value=ledger_marks.c.value + 1)
        )
        before = int(conn.execute(select(func.coalesce(func.max(order_events.c.id), 0))).scalar_one())
        staging_events.create(conn, checkfirst=True)
        conn.execute(staging_events.delete())
        try:
            staged = copy_rows(conn, staging_events.name, EVENT_COLUMNS, rows)
            if staged is None:
                staged = 0
                for batch in batches(rows, BATCH_SIZE):
                    conn.execute(
                        staging_events.insert(), [dict(zip(EVENT_COLUMNS, r, strict=True)) for r in batch]
                    )
                    staged += len(batch)
            elif staged:
                conn.exec_driver_sql(f"ANALYZE {staging_events.name}")
            if not staged:
                return 0, {"orders": 0, "changed": 0, "changed_known": 0, "unknown": 0, "staged": 0}
            cols = ", ".join(EVENT_COLUMNS)
            inserted = conn.execute(
                text(
                    f"INSERT INTO flex_order_events ({cols}, recorded_at) "
                    f"SELECT {cols}, :now FROM flex_tmp_events WHERE 1 = 1 "
                    "ON CONFLICT (mid, kind, event_key) DO NOTHING"
                ),
                {"now": now()},
            ).rowcount
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
        finally:
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

    # -- reading ---------------------------------------------------------------------------------

    def order_state(self, mid: str, order_id: str) -> dict[str, Any] | None:
        """The folded state of one order (``status``, ``amount_minor``, ``currency``, ``refunded_minor``,
        ``order_session_key``, shipment and outcome columns), or None when no event names it."""
        with self._begin() as conn:
            row = (
                conn.execute(
                    select(order_state).where(order_state.c.mid == mid, order_state.c.order_id == order_id)
                )
                .mappings()
                .first()
            )
        return state_dict(row) if row is not None else None

    def orders_by_session_key(self, mid: str, keys: Iterable[str]) -> dict[str, str]:
        """Flex orderSessionKey -> the merchant's order id, for the keys the ledger knows."""
        out: dict[str, str] = {}
        with self._begin() as conn:
            for batch in batches(list(dict.fromkeys(keys)), IN_CHUNK):
                query = select(order_state.c.order_session_key, order_state.c.order_id).where(
                    order_state.c.mid == mid, order_state.c.order_session_key.in_(batch)
                )
                out.update({k: o for k, o in conn.execute(query).all()})
        return out

    def order_events(self, mid: str, order_id: str) -> list[dict[str, Any]]:
        """Every stored event of one order, oldest id first."""
        with self._begin() as conn:
            rows = conn.execute(
                select(order_events)
                .where(order_events.c.mid == mid, order_events.c.order_id == order_id)
                .order_by(order_events.c.id)
            ).mappings()
            return [dict(r) for r in rows]

    def _overlay(self, query: Any) -> Any:
        s = order_state
        return query.add_columns(
            s.c.status.label("state_status"),
            s.c.order_session_key.label("state_osk"),
            s.c.confirmation_id.label("state_confirmation"),
            s.c.approved_minor.label("state_amount"),
            s.c.currency.label("state_currency"),
            s.c.settled_at.label("state_settled"),
            s.c.flex_error.label("state_error"),
        ).outerjoin(s, (s.c.mid == batch_rows.c.mid) & (s.c.order_id == batch_rows.c.order_id))

    @staticmethod
    def _overlaid(row: Any) -> dict[str, Any]:
        out = row_dict({k: v for k, v in row.items() if not k.startswith("state_")})
        if row["state_status"] is not None and out["kind"] == "evaluate":
            out.update(
                status=row["state_status"],
                order_session_key=row["state_osk"],
                confirmation_id=row["state_confirmation"],
                amount=row["state_amount"],
                currency=row["state_currency"],
                result_at=utc(row["state_settled"]),
                error=row["state_error"],
            )
        return out

    def rows_for_orders(self, mid: str, kind: str, order_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """order id -> ledger row as shipped, with the order's current state (status, keys, outcome)."""
        out: dict[str, dict[str, Any]] = {}
        with self._begin() as conn:
            for batch in batches(list(dict.fromkeys(order_ids)), IN_CHUNK):
                query = self._overlay(select(batch_rows)).where(
                    batch_rows.c.mid == mid, batch_rows.c.kind == kind, batch_rows.c.order_id.in_(batch)
                )
                for row in conn.execute(query).mappings():
                    out[row["order_id"]] = self._overlaid(row)
        return out

    def rows_for_files(
        self, names: Iterable[str], *, states: Sequence[str] | None = None
    ) -> Iterator[dict[str, Any]]:
        """The file registry's rows of these files (see :class:`FileRegistry`), with each order's state."""
        for batch in batches(super().rows_for_files(names, states=states), IN_CHUNK):
            ids = [r["order_id"] for r in batch if r["kind"] == "evaluate"]
            found: dict[tuple[str, str], Any] = {}
            if ids:
                with self.engine.connect() as conn:
                    query = select(order_state).where(order_state.c.order_id.in_(ids))
                    found = {(r["mid"], r["order_id"]): r for r in conn.execute(query).mappings()}
            for row in batch:
                st = found.get((row["mid"], row["order_id"])) if row["kind"] == "evaluate" else None
                if st is not None and st["status"] is not None:
                    row.update(
                        status=st["status"],
                        order_session_key=st["order_session_key"],
                        confirmation_id=st["confirmation_id"],
                        amount=st["approved_minor"],
                        currency=st["currency"],
                        result_at=utc(st["settled_at"]),
                        error=st["flex_error"],
                    )
                yield row

    def iter_rows(
        self,
        mid: str,
        kind: str = "evaluate",
        *,
        statuses: Sequence[str] | None = None,
        exclude_statuses: Sequence[str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Stream ledger rows of one merchant and kind with their current state, filtered by status."""
        self._ensure()
        query = self._overlay(select(batch_rows)).where(batch_rows.c.mid == mid, batch_rows.c.kind == kind)
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=BATCH_SIZE).execute(query.order_by(batch_rows.c.id))
            for row in result.mappings():
                out = self._overlaid(row)
                if statuses is not None and out["status"] not in statuses:
                    continue
                if exclude_statuses and out["status"] in exclude_statuses:
                    continue
                yield out

    def pending_orders(
        self,
        mid: str,
        *,
        as_of: datetime | None = None,
        statuses: Sequence[str] = ("SUBMITTED",),
        limit: int | None = None,
        **_: Any,
    ) -> list[dict[str, Any]]:
        """Orders still without a final outcome although their rescue window ended before ``as_of``."""
        s = order_state
        cutoff = utc(as_of) if as_of is not None else now()
        query = (
            select(s)
            .where(
                s.c.mid == mid,
                s.c.status.in_(list(statuses)),
                s.c.expiry_at.is_not(None),
                s.c.expiry_at < cutoff,
            )
            .order_by(s.c.expiry_at, s.c.order_id)
        )
        if limit is not None:
            query = query.limit(limit)
        with self._begin() as conn:
            out = []
            for row in conn.execute(query).mappings():
                d = state_dict(row)
                d["expiry_date_utc"] = d["expiry_at"]
                out.append(d)
        return out

    def first_ack_time(
        self, mid: str, *, as_of: datetime, statuses: Sequence[str] = ("SHIPPED", "SUBMITTED")
    ) -> datetime | None:
        """Flex's earliest ack time (its own clock) over the orders :meth:`pending_orders` would list."""
        s, e = order_state, order_events
        query = (
            select(func.min(e.c.flex_time))
            .select_from(e.join(s, (s.c.mid == e.c.mid) & (s.c.order_id == e.c.order_id)))
            .where(
                e.c.mid == mid,
                e.c.kind == "ack",
                s.c.status.in_(list(statuses)),
                s.c.expiry_at.is_not(None),
                s.c.expiry_at < utc(as_of),
            )
        )
        with self._begin() as conn:
            return utc(conn.execute(query).scalar())

    def summary(self, business_date: date) -> dict[str, Any]:
        """Counts for one business date: files by kind and state, rows by kind and current status."""
        with self._begin() as conn:
            files = conn.execute(
                select(batch_files.c.kind, batch_files.c.state, func.count(), func.sum(batch_files.c.rows))
                .where(batch_files.c.business_date == business_date)
                .group_by(batch_files.c.kind, batch_files.c.state)
            ).all()
            status = func.coalesce(order_state.c.status, batch_rows.c.status)
            rows = conn.execute(
                select(batch_rows.c.kind, status, func.count())
                .select_from(
                    batch_rows.outerjoin(
                        order_state,
                        (order_state.c.mid == batch_rows.c.mid)
                        & (order_state.c.order_id == batch_rows.c.order_id),
                    )
                )
                .where(batch_rows.c.business_date == business_date)
                .group_by(batch_rows.c.kind, status)
            ).all()
        out: dict[str, Any] = {"business_date": business_date.isoformat(), "files": {}, "rows": {}}
        for kind, state, n, total in files:
            out["files"].setdefault(kind, {})[state] = {"files": n, "rows": int(total or 0)}
        for kind, st, n in rows:
            out["rows"].setdefault(kind, {})[st] = n
        return out
