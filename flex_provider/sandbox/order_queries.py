"""Reading orders: ``GET /orders/{id}``, ``GET /orders`` (filters, paging) and the admin views."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from flex_provider.sandbox.expiry import ExpiryMixin
from flex_provider.sandbox.order_store import STATUS_NAMES, OrderEvent, iso, to_timestamp
from flex_provider.sandbox.problems import problem


class OrderQueriesMixin(ExpiryMixin):
    """Order reads; each settles due transitions first, so it answers as of the sandbox clock."""

    def get_order(self, mid: str, order_id: str) -> tuple[int, dict[str, Any]]:
        """``GET /orders/{id}`` (settles due transitions first)."""
        self.settle_due()
        with self._lock:
            row = self._order_row(self._conn, mid, order_id)
        if row is None:
            return 404, problem(404, detail=f"Order {order_id} not found.")
        return 200, self.order_json(row)

    def list_orders(self, mid: str, params: Sequence[tuple[str, str]]) -> tuple[int, dict[str, Any]]:
        """``GET /orders``: filters ``status`` (repeatable or comma list), ``from``, ``to``, ``mid``,
        ``query``, ``orderBy`` (createdOn|amount), ``sort`` (asc|desc), ``pageSize`` (1-100, default 10),
        ``pageNumber`` (from 1)."""
        self.settle_due()
        errors: dict[str, list[str]] = {}
        by_key: dict[str, list[str]] = {}
        for k, v in params:
            by_key.setdefault(k.lower(), []).append(v)
        statuses: list[int] = []
        for raw in by_key.get("status", []):
            for part in raw.split(","):
                part = part.strip()
                if not part:
                    continue
                if part.lstrip("-").isdigit() and int(part) in STATUS_NAMES:
                    statuses.append(int(part))
                else:
                    errors.setdefault("Status", []).append(f"The value '{part}' is not valid for Status.")

        def dt(name: str) -> float | None:
            vals = by_key.get(name.lower())
            if not vals:
                return None
            try:
                return to_timestamp(datetime.fromisoformat(vals[-1].replace("Z", "+00:00")))
            except ValueError:
                errors.setdefault(name[:1].upper() + name[1:], []).append(
                    f"The value '{vals[-1]}' is not valid for {name[:1].upper() + name[1:]}.")
                return None

        def integer(name: str, default: int, lo: int, hi: int) -> int:
            vals = by_key.get(name.lower())
            pascal = name[:1].upper() + name[1:]
            if not vals:
                return default
            if not vals[-1].lstrip("-").isdigit():
                errors.setdefault(pascal, []).append(f"The value '{vals[-1]}' is not valid for {pascal}.")
                return default
            value = int(vals[-1])
            if not lo <= value <= hi:
                errors.setdefault(pascal, []).append(f"The field {pascal} must be between {lo} and {hi}.")
            return value

        t_from, t_to = dt("from"), dt("to")
        page_size = integer("pageSize", 10, 1, 100)
        page_number = integer("pageNumber", 1, 1, 1_000_000)
        order_by = (by_key.get("orderby") or ["createdOn"])[-1]
        sort = (by_key.get("sort") or ["asc"])[-1].lower()
        if order_by.lower() not in ("createdon", "amount"):
            errors.setdefault("OrderBy", []).append(f"The value '{order_by}' is not valid for OrderBy.")
        if sort not in ("asc", "desc"):
            errors.setdefault("Sort", []).append(f"The value '{sort}' is not valid for Sort.")
        if errors:
            return 400, problem(400, errors)
        where, args = ["mid = ?"], [mid]
        for m in by_key.get("mid", []):
            where.append("lower(mid) = ?")
            args.append(m.lower())
        if statuses:
            where.append(f"status IN ({','.join('?' * len(statuses))})")
            args.extend(statuses)
        if t_from is not None:
            where.append("placed_at >= ?")
            args.append(t_from)
        if t_to is not None:
            where.append("placed_at <= ?")
            args.append(t_to)
        for q in by_key.get("query", []):
            where.append("(external_order_id LIKE ? OR id LIKE ? OR reference_number LIKE ?)")
            args.extend([f"%{q}%"] * 3)
        column = "amount" if order_by.lower() == "amount" else "placed_at"
        direction = "DESC" if sort == "desc" else "ASC"
        sql_where = " AND ".join(where)
        with self._lock:
            total = self._conn.execute(f"SELECT COUNT(*) FROM orders WHERE {sql_where}", args).fetchone()[0]
            rows = self._conn.execute(
                f"SELECT * FROM orders WHERE {sql_where} ORDER BY {column} {direction}, seq {direction}, id "
                f"{direction} LIMIT ? OFFSET ?",
                [*args, page_size, (page_number - 1) * page_size],
            ).fetchall()
        page_count = math.ceil(total / page_size) if total else 0
        first = (page_number - 1) * page_size + 1 if rows else 0
        return 200, {
            "items": [self.order_json(r) for r in rows],
            "pageNumber": page_number,
            "pageSize": page_size,
            "pageCount": page_count,
            "totalItemCount": total,
            "hasPreviousPage": page_number > 1,
            "hasNextPage": page_number < page_count,
            "isFirstPage": page_number == 1,
            "isLastPage": page_number >= page_count,
            "firstItemOnPage": first,
            "lastItemOnPage": first + len(rows) - 1 if rows else 0,
            "statuses": {str(k): v for k, v in STATUS_NAMES.items()},
        }

    # ------------------------------------------------------------------ admin views
    def raw_orders(self) -> list[dict[str, Any]]:
        """All orders with every column (times as ISO strings) for ``GET /_sandbox/orders``."""
        with self._lock:
            rows = self._conn.execute("SELECT * FROM orders ORDER BY placed_at, seq, id").fetchall()
        out = []
        for r in rows:
            d = dict(r)
            for col in ("placed_at", "expiry_at", "due_at", "final_at", "updated_at"):
                d[col] = iso(d[col])
            d["status_name"] = STATUS_NAMES.get(d["status"])
            out.append(d)
        return out

    def raw_events(self, after: int = 0) -> list[dict[str, Any]]:
        """Every order event ever emitted (the outbox log), oldest first."""
        with self._lock:
            rows = self._conn.execute("SELECT * FROM events WHERE seq > ? ORDER BY seq", (after,)).fetchall()
        return [{**dict(r), "timestamp": iso(r["timestamp"])} for r in rows]

    @staticmethod
    def event_dict(event: OrderEvent) -> dict[str, Any]:
        """JSON-friendly form of an event."""
        d = asdict(event)
        d["timestamp"] = iso(event.timestamp.timestamp())
        return d
