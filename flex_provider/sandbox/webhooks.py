"""The sandbox's webhook sender: Flex-style signed deliveries with an outbox, retries and fault knobs.

``WebhookSender`` listens to ``SandboxState`` (``state.add_listener``), writes every ``OrderEvent`` as a
Flex payload into an outbox table in its own SQLite file (so a sandbox restart loses nothing that was
queued), and ``run()`` POSTs due rows to the target URL signed with the subscriber key (HMAC-SHA512
``x-fc-*``, Host = the URL's ``host[:port]``). Non-2xx answers and timeouts are retried with exponential
backoff and jitter; every redelivery carries ``"IsResent": true``.

Fault knobs (``set_faults``, or ``POST /_sandbox/webhooks/faults`` of ``sandbox/webhook_admin.py``):
``duplicate_ratio`` (queue a second copy), ``reorder`` (random hold back of up to ``max(delay_ms, 200)``
ms and shuffled batches), ``delay_ms`` (first attempt delayed), ``drop_ratio`` (never sent; reconciliation must recover it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import sqlite3
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

from flex_provider.sandbox.signing import WebhookSigner
from flex_provider.sandbox.webhook_payload import payload_from_order_event

log = logging.getLogger(__name__)

_FAULT_DEFAULTS: dict[str, Any] = {"duplicate_ratio": 0.0, "reorder": False, "delay_ms": 0, "drop_ratio": 0.0}


def _host_of(url: str) -> str:
    """The Host header value (and signed ``host``) of ``url``: ``host[:port]``, IPv6 in brackets."""
    parsed = httpx.URL(url)
    host = parsed.host
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{host}:{parsed.port}" if parsed.port else host


class WebhookSender:
    """Outbox-backed, retrying, fault-injecting sender of signed Flex webhooks (see module doc)."""

    def __init__(
        self,
        state: Any,
        subscriber_key_b64: str,
        *,
        url: str | None = None,
        db_path: Path,
        timeout: float = 10.0,
        concurrency: int = 8,
        retry_base: float = 0.5,
        retry_max: float = 30.0,
        max_attempts: int = 0,
        poll_interval: float = 0.1,
        content_type: str = "application/json",
        is_test_mode: bool = True,
        seed: int | None = None,
    ) -> None:
        self._signer = WebhookSigner(subscriber_key_b64)  # a bad key fails here, not at the first event
        self.state = state
        self.subscriber_key_b64 = subscriber_key_b64
        self.url = url
        self.timeout = timeout
        self.concurrency = max(1, concurrency)
        self.retry_base = retry_base
        self.retry_max = retry_max
        self.max_attempts = max_attempts
        self.poll_interval = poll_interval
        self.content_type = content_type
        self.is_test_mode = is_test_mode
        self.faults: dict[str, Any] = dict(_FAULT_DEFAULTS)
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._inflight: set[int] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self.db_path = Path(db_path)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS webhook_outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                "payload TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0, "
                "is_copy INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL, created_at TEXT NOT NULL, "
                "sent_at TEXT, last_status INTEGER, last_error TEXT)"
            )
            self._db.execute(
                "CREATE INDEX IF NOT EXISTS ix_webhook_outbox_due ON webhook_outbox (status, next_attempt_at)"
            )
        add_listener = getattr(state, "add_listener", None)
        if add_listener is not None:
            add_listener(self.on_event)

    # -- configuration -------------------------------------------------------------------------
    def set_target(self, url: str | None) -> None:
        """Point deliveries at ``url`` (None pauses sending; rows stay pending)."""
        if url is not None:
            _host_of(url)
        self.url = url
        self._poke()

    def set_faults(self, **knobs: Any) -> dict[str, Any]:
        """Update fault knobs; unknown names raise ``ValueError``."""
        unknown = set(knobs) - set(_FAULT_DEFAULTS)
        if unknown:
            raise ValueError(f"unknown fault(s): {sorted(unknown)}")
        for name, value in knobs.items():
            if name == "reorder":
                self.faults[name] = bool(value)
            elif name == "delay_ms":
                self.faults[name] = max(0, int(value or 0))
            else:
                ratio = float(value or 0)
                if not 0 <= ratio <= 1:
                    raise ValueError(f"{name} must be between 0 and 1")
                self.faults[name] = ratio
        return dict(self.faults)

    def reset_faults(self) -> dict[str, Any]:
        self.faults = dict(_FAULT_DEFAULTS)
        return dict(self.faults)

    # -- queueing --------------------------------------------------------------------------------
    def on_event(self, event: Any) -> None:
        """State listener: queue the event's webhook (called after the state commit)."""
        try:
            self.enqueue(payload_from_order_event(event, is_test_mode=self.is_test_mode))
        except Exception:
            log.exception("webhook sender: could not queue %r", event)

    def enqueue(self, payload: dict[str, Any], *, apply_faults: bool = True) -> list[int]:
        """Persist one payload (plus a copy when the duplicate fault fires); returns the outbox ids."""
        now = time.time()
        created = datetime.now(timezone.utc).isoformat()
        f = self.faults if apply_faults else _FAULT_DEFAULTS
        copies = 2 if f["duplicate_ratio"] and self._rng.random() < f["duplicate_ratio"] else 1
        ids: list[int] = []
        with self._lock:
            for n in range(copies):
                status = "dropped" if f["drop_ratio"] and self._rng.random() < f["drop_ratio"] else "pending"
                delay = f["delay_ms"] / 1000.0
                if f["reorder"]:
                    delay += self._rng.uniform(0, max(f["delay_ms"], 200) / 1000.0)
                cur = self._db.execute(
                    "INSERT INTO webhook_outbox (payload, status, is_copy, next_attempt_at, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (json.dumps(payload, separators=(",", ":")), status, int(n > 0), now + delay, created),
                )
                ids.append(int(cur.lastrowid or 0))
        self._poke()
        return ids

    def _poke(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # no running loop in this thread
            if asyncio.get_running_loop() is loop:
                wake.set()
                return
        loop.call_soon_threadsafe(wake.set)

    def redeliver_now(self) -> int:
        """Make every pending row due immediately (skips the remaining backoff)."""
        with self._lock:
            cur = self._db.execute("UPDATE webhook_outbox SET next_attempt_at = 0 WHERE status = 'pending'")
        self._poke()
        return cur.rowcount

    # -- delivery ------------------------------------------------------------------------------
    def _due(self, limit: int) -> list[tuple[int, str, int, int]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, payload, attempts, is_copy FROM webhook_outbox WHERE status = 'pending' "
                "AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?",
                (time.time(), limit + len(self._inflight)),
            ).fetchall()
        due = [r for r in rows if r[0] not in self._inflight][:limit]
        if self.faults["reorder"]:
            self._rng.shuffle(due)
        return due

    def _next_due_in(self) -> float | None:
        with self._lock:
            row = self._db.execute(
                "SELECT MIN(next_attempt_at) FROM webhook_outbox WHERE status = 'pending'"
            ).fetchone()
        return None if row[0] is None else max(0.0, row[0] - time.time())

    def _record(self, row_id: int, ok: bool, attempts: int, status: int | None, error: str | None) -> None:
        with self._lock:
            if ok:
                self._db.execute(
                    "UPDATE webhook_outbox SET status='sent', attempts=?, sent_at=?, last_status=?, last_error=NULL "
                    "WHERE id=?",
                    (attempts, datetime.now(timezone.utc).isoformat(), status, row_id),
                )
                return
            backoff = min(self.retry_max, self.retry_base * 2 ** max(0, attempts - 1))
            backoff *= self._rng.uniform(0.5, 1.0)
            failed = self.max_attempts and attempts >= self.max_attempts
            self._db.execute(
                "UPDATE webhook_outbox SET status=?, attempts=?, next_attempt_at=?, last_status=?, last_error=? "
                "WHERE id=?",
                ("failed" if failed else "pending", attempts, time.time() + backoff, status, error, row_id),
            )

    async def _deliver(self, client: Any, row: tuple[int, str, int, int], url: str) -> bool:
        row_id, payload_text, attempts, is_copy = row
        payload = json.loads(payload_text)
        if attempts > 0 or is_copy:
            payload["IsResent"] = True
        body = json.dumps(payload, separators=(",", ":")).encode()
        host = _host_of(url)
        headers = self._signer.headers(body, host)
        headers["Host"] = host
        headers["Content-Type"] = self.content_type
        status: int | None = None
        error: str | None = None
        try:
            resp = await client.post(url, content=body, headers=headers)
            status = resp.status_code
            ok = 200 <= status < 300
            if not ok:
                error = resp.text[:200]
        except (httpx.HTTPError, OSError) as exc:  # timeouts, refused connections: retry later
            ok = False
            error = f"{type(exc).__name__}: {exc}"[:200]
        self._record(row_id, ok, attempts + 1, status, error)
        return ok

    async def deliver_due(self, client: Any | None = None) -> int:
        """One pass: send every due row (bounded concurrency). Returns how many rows were attempted."""
        url = self.url
        if not url:
            return 0
        due = self._due(self.concurrency * 4)
        if not due:
            return 0
        own = client is None
        if own:
            client = httpx.AsyncClient(timeout=self.timeout)
        sem = asyncio.Semaphore(self.concurrency)

        async def one(row: tuple[int, str, int, int]) -> None:
            async with sem:
                try:
                    await self._deliver(client, row, url)
                finally:
                    self._inflight.discard(row[0])

        self._inflight.update(r[0] for r in due)
        try:
            await asyncio.gather(*(one(r) for r in due))
        finally:
            if own:
                await client.aclose()
        return len(due)

    async def run(self) -> None:
        """Deliver forever (until cancelled)."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        async with httpx.AsyncClient(timeout=self.timeout, limits=limits) as client:
            while True:
                try:
                    sent = await self.deliver_due(client)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("webhook sender loop error")
                    sent = 0
                if sent:
                    continue
                wait = self.poll_interval
                nxt = self._next_due_in() if self.url else None
                if nxt is not None:
                    wait = min(max(nxt, 0.01), 1.0)
                else:
                    wait = 1.0
                self._wake.clear()
                with contextlib.suppress(asyncio.TimeoutError):  # woken early, or the wait ran out
                    await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until no row is pending (for tests); False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.counts().get("pending", 0) == 0 and not self._inflight:
                return True
            await asyncio.sleep(0.05)
        return False

    # -- introspection -------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT status, COUNT(*) FROM webhook_outbox GROUP BY status").fetchall()
        out = {"pending": 0, "sent": 0, "dropped": 0, "failed": 0}
        out.update({s: int(n) for s, n in rows})
        return out

    def status(self) -> dict[str, Any]:
        with self._lock:
            attempts = self._db.execute("SELECT COALESCE(SUM(attempts), 0) FROM webhook_outbox").fetchone()[0]
            last_errors = self._db.execute(
                "SELECT id, last_status, last_error FROM webhook_outbox WHERE status IN ('pending', 'failed') "
                "AND last_error IS NOT NULL ORDER BY id DESC LIMIT 5"
            ).fetchall()
        return {
            "target": self.url,
            **self.counts(),
            "attempts": int(attempts),
            "faults": dict(self.faults),
            "last_errors": [{"id": i, "status": s, "error": e} for i, s, e in last_errors],
        }

    def close(self) -> None:
        with self._lock:
            self._db.close()
