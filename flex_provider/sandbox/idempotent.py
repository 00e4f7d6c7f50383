"""Idempotency keys: one answer per (merchant, operation, key); the same key with another body is a 409."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from typing import Any

from flex_provider.sandbox.order_store import OrderStore
from flex_provider.sandbox.problems import problem

IDEMPOTENCY_WINDOW_S = 24 * 3600.0  # for refund and cancel; evaluate/transmit/capture keys never lapse


def _canonical_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def without_sequence_number(body: Any) -> Any:
    """Batch rows may move to another position when re-sent: ``sequenceNumber`` is not part of the key."""
    if isinstance(body, dict):
        return {k: v for k, v in body.items() if not (isinstance(k, str) and k.lower() == "sequencenumber")}
    return body


class IdempotencyMixin(OrderStore):
    """:meth:`_idempotent`, the wrapper every write endpoint runs its change through."""

    def _idempotent(
        self,
        mid: str,
        op: str,
        key: str | None,
        fingerprint: Any,
        fn: Callable[[sqlite3.Connection], tuple[int, dict[str, Any]]],
        *,
        window: float | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """Run ``fn`` once per (mid, op, key): same body replays the stored answer, another body gets 409."""
        with self._txn() as conn:
            if key is None:
                return fn(conn)
            scope = f"{mid}|{op}"
            digest = _canonical_hash(fingerprint)
            now = self.clock.timestamp()
            row = conn.execute(
                "SELECT body_hash, status, response, created_at FROM idempotency WHERE scope=? AND key=?",
                (scope, key),
            ).fetchone()
            if row is not None and (window is None or now - row["created_at"] <= window):
                if row["body_hash"] != digest:
                    return 409, problem(
                        409, detail="The idempotency key was already used with a different request body."
                    )
                return int(row["status"]), json.loads(row["response"])
            status, body = fn(conn)
            if status < 400:
                conn.execute(
                    "INSERT OR REPLACE INTO idempotency (scope, key, body_hash, status, response, created_at) "
                    "VALUES (?,?,?,?,?,?)",
                    (scope, key, digest, status, json.dumps(body), now),
                )
            return status, body
