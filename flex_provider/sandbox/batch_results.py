"""The result outbox: ``order.completed`` / ``order.expired`` events become rows of result files.

Rows are persisted (``sftp_result_outbox``) as the state emits them, so a restart loses none, and are
written to the account's ``outbound/`` in files of at most ``MAX_ROWS`` rows, atomically (or, as a
fault, slowly in chunks under the final name). The accounts and the clock live here too: a result
file goes to the home of the mid's SFTP account, named by the sandbox clock.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from flex_provider.sandbox.batch_files import MAX_ROWS, iso_z, line_layout, write_atomic, write_chunk

_RESULT_EVENTS = {"order.completed": "APPROVED", "order.expired": "EXPIRED"}


class ResultOutbox:
    """Result rows and files of :class:`~flex_provider.sandbox.batches.BatchProcessor` (its base class)."""

    state: Any
    root: Path
    accounts: dict[str, str] | None
    slow_results: float
    _db: sqlite3.Connection
    _lock: threading.RLock
    _closed: bool

    # -- time and accounts ---------------------------------------------------------------------
    def now(self) -> datetime:
        """Sandbox clock when the state has one, else real UTC."""
        clock = getattr(self.state, "clock", None)
        if clock is not None and hasattr(clock, "now"):
            return clock.now()
        return datetime.now(timezone.utc)

    def _account_mid(self, username: str) -> str | None:
        if self.accounts is not None:
            return self.accounts.get(username)
        for attr in ("sftp_accounts", "accounts"):
            mapping = getattr(self.state, attr, None)
            if callable(mapping):
                mapping = mapping()
            if isinstance(mapping, dict) and username in mapping:
                return mapping[username]
        fn = getattr(self.state, "mid_for_sftp_user", None)
        if callable(fn):
            return fn(username)
        return getattr(self.state, "mid", None)

    def _account_dirs(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir() if p.is_dir() and (p / "inbound").is_dir())

    # -- results -------------------------------------------------------------------------------
    def on_event(self, event: Any) -> None:
        """State listener: queue ``order.completed`` / ``order.expired`` as result rows (persisted)."""
        status = _RESULT_EVENTS.get(getattr(event, "event", None))
        if status is None or self._closed:
            return
        ts = event.timestamp
        row = {
            "orderId": event.external_order_id,
            "orderSessionKey": event.order_id,
            "status": status,
            "confirmationId": event.confirmation_id if status == "APPROVED" else None,
            "amount": event.amount,
            "currency": event.currency,
            "timestampUtc": iso_z(ts) if isinstance(ts, datetime) else ts,
        }
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO sftp_result_outbox (mid, event_key, row, created_at) VALUES (?, ?, ?, ?)",
                (event.mid, f"{event.event}:{event.order_id}", json.dumps(row, separators=(",", ":")),
                 iso_z(datetime.now(timezone.utc))),
            )  # fmt: skip

    def pending_results(self) -> int:
        """Result rows waiting to be written."""
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM sftp_result_outbox").fetchone()[0]

    def _home_for_mid(self, mid: str) -> Path | None:
        for home in self._account_dirs():
            if self._account_mid(home.name) == mid:
                return home
        return None

    def _next_batch(self) -> tuple[str, Path, list[int], list[dict[str, Any]], str, int] | None:
        """The next result file to write: (mid, path, outbox ids, rows, generatedAtUtc, fileNumber)."""
        with self._lock:
            mids = [
                r[0] for r in self._db.execute("SELECT DISTINCT mid FROM sftp_result_outbox ORDER BY mid")
            ]
            for mid in mids:
                home = self._home_for_mid(mid)
                if home is None:
                    continue
                got = self._db.execute(
                    "SELECT id, row FROM sftp_result_outbox WHERE mid = ? ORDER BY id LIMIT ?",
                    (mid, MAX_ROWS),
                ).fetchall()
                now = self.now()
                day = now.strftime("%Y%m%d")
                self._db.execute(
                    "INSERT INTO sftp_result_counter (mid, day, n) VALUES (?, ?, 1) "
                    "ON CONFLICT(mid, day) DO UPDATE SET n = n + 1",
                    (mid, day),
                )
                n = self._db.execute(
                    "SELECT n FROM sftp_result_counter WHERE mid = ? AND day = ?", (mid, day)
                ).fetchone()[0]
                path = home / "outbound" / f"result_{mid}_{now.strftime('%Y%m%d%H%M%S')}_{n:04d}.json"
                return mid, path, [r[0] for r in got], [json.loads(r[1]) for r in got], iso_z(now), n
        return None

    def _done(self, ids: list[int]) -> None:
        with self._lock:
            self._db.executemany("DELETE FROM sftp_result_outbox WHERE id = ?", [(i,) for i in ids])

    def _next_result_file(self) -> tuple[Path, list[int], bytes] | None:
        """The next result file to write: its path, its outbox ids and its bytes (None when none)."""
        batch = self._next_batch()
        if batch is None:
            return None
        mid, path, ids, rows, generated, n = batch
        env = {"fileType": "result", "mid": mid, "generatedAtUtc": generated, "fileNumber": n, "rowCount": len(rows)}
        return path, ids, line_layout(env, rows)

    def flush_results(self) -> list[str]:
        """Write every pending result row now (files of at most 2000 rows, atomically); returns names."""
        names = []
        while (found := self._next_result_file()) is not None:
            path, ids, data = found
            write_atomic(path, data)
            self._done(ids)
            names.append(path.name)
        return names

    async def _flush_results_slowly(self) -> list[str]:
        """Fault mode: write each result file directly under its final name in 4 chunks, slowly."""
        names = []
        while (found := self._next_result_file()) is not None:
            path, ids, data = found
            step = max(1, -(-len(data) // 4))
            for i in range(0, len(data), step):
                write_chunk(path, data[i : i + step], append=i > 0)
                if i + step < len(data):
                    await asyncio.sleep(self.slow_results)
            self._done(ids)
            names.append(path.name)
        return names

    async def flush_results_async(self) -> list[str]:
        """:meth:`flush_results`, honouring the ``slow_results`` fault."""
        if self.slow_results > 0:
            return await self._flush_results_slowly()
        return self.flush_results()

