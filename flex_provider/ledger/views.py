"""
Reading the order book: an order's state, the shipped rows with their state, what is still pending.

Rows as shipped come from the file registry (``flex_batch_rows``); their ``status``, keys and outcome
are overlaid from ``flex_order_state``, the one owner of an order's state.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select

from flex_provider.ledger.files import row_dict
from flex_provider.ledger.orders import OrderBook
from flex_provider.ledger.schema import (
    BATCH_SIZE,
    IN_CHUNK,
    batch_files,
    batch_rows,
    batches,
    now,
    order_events,
    order_state,
    utc,
)
from flex_provider.ledger.state import state_dict

#: State columns a shipped row shows, and the row key each replaces.
_OVERLAID = {
    "status": "status",
    "order_session_key": "order_session_key",
    "confirmation_id": "confirmation_id",
    "approved_minor": "amount",
    "currency": "currency",
    "settled_at": "result_at",
    "flex_error": "error",
}


def _with_state(row: dict[str, Any], state: Any) -> dict[str, Any]:
    """A shipped row with its order's current state in place of the registry's historical columns."""
    if state is not None and state["status"] is not None and row["kind"] == "evaluate":
        for col, key in _OVERLAID.items():
            row[key] = utc(state[col]) if col == "settled_at" else state[col]
    return row


class OrderViews(OrderBook):
    """Reads of states and of shipped rows with their state."""

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
        return query.add_columns(*(s.c[c].label(f"state_{c}") for c in _OVERLAID)).outerjoin(
            s, (s.c.mid == batch_rows.c.mid) & (s.c.order_id == batch_rows.c.order_id)
        )

    @staticmethod
    def _overlaid(row: Any) -> dict[str, Any]:
        out = row_dict({k: v for k, v in row.items() if not k.startswith("state_")})
        state = {k.removeprefix("state_"): v for k, v in row.items() if k.startswith("state_")}
        return _with_state(out, state)

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
                yield _with_state(row, found.get((row["mid"], row["order_id"])))

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
