"""The clock's effect on orders: MIT orders complete or expire when the sandbox clock reaches their time."""

from __future__ import annotations

from flex_provider.sandbox.order_store import COMPLETED, EXPIRED, PROCESSING, OrderEvent, OrderStore


class ExpiryMixin(OrderStore):
    """:meth:`settle_due`, run before every read and write that depends on an order's state."""

    def settle_due(self) -> list[OrderEvent]:
        """Apply every MIT transition due at ``clock.now()`` (Completed or Expired); notify listeners."""
        now = self.clock.timestamp()
        events: list[OrderEvent] = []
        with self._txn() as conn:
            rows = conn.execute(
                "SELECT * FROM orders WHERE status=? AND due_at IS NOT NULL AND due_at <= ? ORDER BY due_at, id",
                (PROCESSING, now),
            ).fetchall()
            for row in rows:
                at = float(row["due_at"])
                if row["planned"] == "approve":
                    confirmation_id = self._confirmation_id(row["id"])
                    conn.execute(
                        "UPDATE orders SET status=?, confirmation_id=?, final_at=?, updated_at=? WHERE id=?",
                        (COMPLETED, confirmation_id, at, now, row["id"]),
                    )
                    updated = dict(row)
                    updated["confirmation_id"] = confirmation_id
                    events.append(self._emit(conn, updated, "order.completed", "APPROVED", at))
                else:
                    conn.execute("UPDATE orders SET status=?, final_at=?, updated_at=? WHERE id=?",
                                 (EXPIRED, at, now, row["id"]))
                    events.append(self._emit(conn, row, "order.expired", "EXPIRED", at))
            conn.execute("DELETE FROM tokens WHERE expires_at < ?", (now - 86400,))
        return events
