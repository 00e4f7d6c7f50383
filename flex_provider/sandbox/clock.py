"""Sandbox clock: UTC time that may run faster than real time and can be advanced, persisted in SQLite.

The clock is a linear function of real (wall) time anchored at the last change:
``now = anchor_sim + (time.time() - anchor_real) * speed``. Advancing or changing the speed re-anchors
and writes the anchor to the ``clock`` table, so a restarted sandbox continues where it left off.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import datetime, timezone


class SandboxClock:
    """Sandbox time source shared by the API, the settle loop, batches and webhooks."""

    def __init__(
        self,
        conn: sqlite3.Connection | None = None,
        *,
        speed: float | None = None,
        lock: threading.RLock | None = None,
    ) -> None:
        """Load the anchor from ``conn`` (or start at real time); ``speed`` overrides the stored speed."""
        self._conn = conn
        self._lock = lock or threading.RLock()
        real = time.time()
        self._anchor_real = real
        self._anchor_sim = real
        self._speed = 1.0
        if conn is not None:
            with self._lock:
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS clock (id INTEGER PRIMARY KEY CHECK (id = 1), "
                    "anchor_real REAL NOT NULL, anchor_sim REAL NOT NULL, speed REAL NOT NULL)"
                )
                row = conn.execute("SELECT anchor_real, anchor_sim, speed FROM clock WHERE id = 1").fetchone()
                if row is not None:
                    self._anchor_real, self._anchor_sim, self._speed = (float(v) for v in row)
        if speed is not None:
            self.set_speed(speed)
        else:
            self._persist()

    # -- reading -------------------------------------------------------------------------------
    def timestamp(self) -> float:
        """Sandbox time as POSIX seconds."""
        with self._lock:
            return self._anchor_sim + (time.time() - self._anchor_real) * self._speed

    def now(self) -> datetime:
        """Sandbox time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.timestamp(), tz=timezone.utc)

    @property
    def speed(self) -> float:
        """How many sandbox seconds pass per real second."""
        return self._speed

    @property
    def offset_seconds(self) -> float:
        """Sandbox time minus real time, in seconds."""
        return self.timestamp() - time.time()

    # -- changing ------------------------------------------------------------------------------
    def advance(self, seconds: float) -> datetime:
        """Jump forward by ``seconds`` (never backward); returns the new now."""
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        with self._lock:
            self._reanchor()
            self._anchor_sim += float(seconds)
            self._persist()
        return self.now()

    def set_speed(self, speed: float) -> None:
        """Change the speed from now on (0 freezes the clock)."""
        if speed < 0:
            raise ValueError("speed must be >= 0")
        with self._lock:
            self._reanchor()
            self._speed = float(speed)
            self._persist()

    def _reanchor(self) -> None:
        real = time.time()
        self._anchor_sim = self._anchor_sim + (real - self._anchor_real) * self._speed
        self._anchor_real = real

    def _persist(self) -> None:
        if self._conn is None:
            return
        with self._lock:
            self._conn.execute(
                "INSERT INTO clock (id, anchor_real, anchor_sim, speed) VALUES (1, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET anchor_real = excluded.anchor_real, "
                "anchor_sim = excluded.anchor_sim, speed = excluded.speed",
                (self._anchor_real, self._anchor_sim, self._speed),
            )
            self._conn.commit()
