"""The sandbox's batch processing: Flex's side of docs/batch-files.md.

Picks up complete inbound files of every account under the SFTP root, validates them, runs each row
through ``state.evaluate`` / ``state.transmit`` (``source="sftp"``), writes an ack file atomically,
archives (or quarantines) the inbound file, and writes result files from ``OrderEvent``s. Its own
SQLite file (``root/../batches.sqlite``) holds the processed-files table and the result outbox, so a
restart neither processes a file twice nor loses a pending result row.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flex_provider.sandbox.batch_files import (
    INBOUND_RE,
    FileRejected,
    ack_name_of,
    iso_z,
    line_layout,
    parse_inbound,
    problem_errors,
    write_atomic,
)
from flex_provider.sandbox.batch_results import ResultOutbox
from flex_provider.sandbox.sftp_server import ACCOUNT_DIRS, SFTPServerControl, control_for

log = logging.getLogger(__name__)

_OK_ROW = {"evaluate": "SUBMITTED", "transmit": "SUCCESS"}


class BatchProcessor(ResultOutbox):
    """Flex's batch side for every account under ``root`` (``root/<username>/inbound`` ...).

    ``accounts`` maps SFTP user name -> mid; by default it comes from the state (see ``_account_mid``).
    Fault knobs (settable at run time, e.g. by :func:`admin_router`): ``slow_results`` (seconds between
    the chunks of a result file written directly under its final name, so a reader sees it grow),
    ``paused`` (pick up nothing).
    """

    def __init__(
        self,
        state: Any,
        root: Path,
        *,
        result_flush_seconds: float = 1.0,
        accounts: dict[str, str] | None = None,
        db_path: Path | None = None,
        control: SFTPServerControl | None = None,
    ):
        self.state = state
        self.root = Path(root).resolve()
        self.result_flush_seconds = result_flush_seconds
        self.accounts = dict(accounts) if accounts else None
        self.control = control or control_for(self.root)
        self.slow_results: float = 0.0
        #: Fault: merchant order ids whose batch rows the ack refuses (as Flex refuses a row it cannot take).
        self.refuse_orders: set[str] = set()
        self.paused: bool = False
        self._seen: dict[str, tuple[int, int, int]] = {}
        self._last_flush = 0.0
        self._closed = False
        self._process_lock = threading.Lock()
        self._lock = threading.RLock()
        self.db_path = Path(db_path) if db_path else self.root.parent / "batches.sqlite"
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS sftp_processed_files (username TEXT NOT NULL, name TEXT NOT NULL, "
                "content_sha256 TEXT NOT NULL, status TEXT NOT NULL, ack_name TEXT NOT NULL, ack BLOB NOT NULL, "
                "processed_at TEXT NOT NULL, PRIMARY KEY (username, name))"
            )
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS sftp_result_outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                "mid TEXT NOT NULL, event_key TEXT NOT NULL UNIQUE, row TEXT NOT NULL, created_at TEXT NOT NULL)"
            )
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS sftp_result_counter (mid TEXT NOT NULL, day TEXT NOT NULL, "
                "n INTEGER NOT NULL, PRIMARY KEY (mid, day))"
            )
        add_listener = getattr(state, "add_listener", None)
        if add_listener is not None:
            add_listener(self.on_event)

    # -- pick-up -------------------------------------------------------------------------------
    def _ready(self, path: Path) -> bool:
        """Complete = no SFTP write handle open and (renamed into place, or same size/mtime as last poll)."""
        if self.control.is_open_for_write(path):
            return False
        try:
            st = path.stat()
        except FileNotFoundError:
            return False
        if self.control.renamed_inode(path) == st.st_ino:
            return True
        sig = (st.st_size, st.st_mtime_ns, st.st_ino)
        key = str(path)
        if self._seen.get(key) == sig:
            return True
        self._seen[key] = sig
        return False

    def pending_files(self) -> list[Path]:
        """Inbound files whose names are finished (``*.part`` and unknown names are left alone)."""
        out = []
        for home in self._account_dirs():
            for p in sorted((home / "inbound").iterdir()):
                m = INBOUND_RE.match(p.name)
                if p.is_file() and m and not (m["kind"] == "evaluate" and m["fmt"] == "csv"):
                    out.append(p)
        return out

    def process_pending(self) -> list[str]:
        """Process every inbound file that is complete now; returns the ack file names written."""
        if self.paused:
            return []
        acks = []
        with self._process_lock:
            for path in self.pending_files():
                if not self._ready(path):
                    continue
                try:
                    acks.append(self.process_file(path))
                except Exception:
                    log.exception("batch file %s could not be processed; left in place", path)
        return acks

    def process_file(self, path: Path) -> str:
        """Validate and run one inbound file; write its ack, archive/quarantine it; returns the ack name."""
        home = path.parent.parent
        username = home.name
        for sub in ACCOUNT_DIRS:
            (home / sub).mkdir(exist_ok=True)
        name = path.name
        ack_name = ack_name_of(name)
        received = iso_z(self.now())
        raw = path.read_bytes()
        m = INBOUND_RE.match(name)
        assert m is not None
        kind, fmt = m["kind"], m["fmt"]
        mid = self._account_mid(username)
        envelope: dict[str, Any] = {}
        rows: list[Any] = []
        file_errors: list[dict[str, str]] = []
        content_sha = hashlib.sha256(raw).hexdigest()
        try:
            if mid is None:
                raise FileRejected("unknown_account", f"no merchant account for SFTP user {username!r}")
            envelope, rows = parse_inbound(raw, kind, fmt, mid, self.state.mid_for_token)
            # identity of a file = its rows (the shipper refreshes the token in line 1 on each upload)
            content_sha = hashlib.sha256(
                json.dumps([kind, mid, rows], sort_keys=True, separators=(",", ":")).encode()
            ).hexdigest()
        except FileRejected as exc:
            file_errors.append({"code": exc.code, "message": exc.message})

        if not file_errors:
            with self._lock:
                prev = self._db.execute(
                    "SELECT content_sha256, status, ack FROM sftp_processed_files WHERE username = ? AND name = ?",
                    (username, name),
                ).fetchone()
            if prev is not None and prev[0] == content_sha and prev[1] == "PROCESSED":
                log.info(
                    "batch file %s/%s already processed with the same rows; re-sending its ack",
                    username,
                    name,
                )
                write_atomic(home / "outbound" / ack_name, bytes(prev[2]))
                self._move(path, home / "archive")
                return ack_name

        ack_rows: list[dict[str, Any]] = []
        if not file_errors:
            ack_rows = [self._run_row(kind, mid, envelope, i, row) for i, row in enumerate(rows, start=1)]
        accepted = sum(1 for r in ack_rows if r["status"] != "REJECTED")
        status = "REJECTED" if file_errors else "PROCESSED"
        ack_env = {
            "fileType": "ack",
            "inboundFile": name,
            "mid": mid if mid is not None else envelope.get("mid"),
            "receivedAtUtc": received,
            "status": status,
            "rowCount": len(ack_rows),
            "accepted": accepted,
            "rejected": len(ack_rows) - accepted,
            "fileErrors": file_errors,
        }
        ack = line_layout(ack_env, ack_rows)
        write_atomic(home / "outbound" / ack_name, ack)
        with self._lock:
            self._db.execute(
                "INSERT INTO sftp_processed_files (username, name, content_sha256, status, ack_name, ack, processed_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(username, name) DO UPDATE SET "
                "content_sha256 = excluded.content_sha256, status = excluded.status, ack_name = excluded.ack_name, "
                "ack = excluded.ack, processed_at = excluded.processed_at",
                (username, name, content_sha, status, ack_name, ack, received),
            )
        if file_errors:
            dest = self._move(path, home / "quarantine")
            dest.with_name(dest.name + ".reason").write_text(json.dumps(file_errors) + "\n")
            log.warning("batch file %s/%s rejected: %s", username, name, file_errors)
        else:
            self._move(path, home / "archive")
            log.info(
                "batch file %s/%s: %d accepted, %d rejected",
                username,
                name,
                accepted,
                len(ack_rows) - accepted,
            )
        return ack_name

    def _move(self, path: Path, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        dest = folder / path.name
        n = 1
        while dest.exists():
            dest = folder / f"{path.name}.{n}"
            n += 1
        os.replace(path, dest)
        self.control.forget(path)
        self._seen.pop(str(path), None)
        return dest

    # -- rows ----------------------------------------------------------------------------------
    def _run_row(self, kind: str, mid: str, envelope: dict[str, Any], pos: int, row: Any) -> dict[str, Any]:
        if not isinstance(row, dict):
            return {"sequenceNumber": str(pos), "orderId": None, "orderSessionKey": None, "status": "REJECTED",
                    "errors": [{"field": None, "message": "row must be a JSON object"}]}  # fmt: skip
        seq = row.get("sequenceNumber")
        out: dict[str, Any] = {
            "sequenceNumber": str(seq) if seq is not None else str(pos),
            "orderId": row.get("orderId"),
            "orderSessionKey": None,
            "status": "REJECTED",
            "errors": [],
        }
        if str(seq) != str(pos):
            out["errors"] = [{"field": "SequenceNumber",
                              "message": f"sequenceNumber must be {pos} (position in the file, from 1)"}]  # fmt: skip
            return out
        if row.get("mid") not in (None, mid):
            out["errors"] = [{"field": "Mid", "message": "row mid differs from the file mid"}]
            return out
        if row.get("orderId") in self.refuse_orders:
            out["errors"] = [{"field": "PaymentMethod", "message": "The PaymentMethod field is required."}]
            return out
        body = dict(row)
        if kind == "evaluate" and body.get("expiryDateUtc") in (None, "") and envelope.get("expiryDateUtc"):
            body["expiryDateUtc"] = envelope["expiryDateUtc"]
        call: Callable[..., tuple[int, dict[str, Any]]] = getattr(self.state, kind)
        try:
            status, resp = call(mid, body, source="sftp")
        except Exception as exc:
            log.exception("state.%s failed for row %d", kind, pos)
            out["errors"] = [{"field": None, "message": f"internal error: {exc}"}]
            return out
        if 200 <= status < 300 and not (isinstance(resp, dict) and resp.get("success") is False):
            out["status"] = _OK_ROW[kind]
            if kind == "evaluate":
                out["orderSessionKey"] = resp.get("orderSessionKey")
            else:
                out["transmitId"] = resp.get("transmitId")
        else:
            out["errors"] = problem_errors(resp)
        return out

    # -- loop ----------------------------------------------------------------------------------
    async def run(self, poll_interval: float = 0.2) -> None:
        """Poll inbound folders and flush results until cancelled."""
        for home in self._account_dirs():
            for sub in ACCOUNT_DIRS:
                (home / sub).mkdir(exist_ok=True)
        while True:
            try:
                # a thread, so a 2000-row file does not stall the API in the same loop (state is thread-safe)
                await asyncio.to_thread(self.process_pending)
                if time.monotonic() - self._last_flush >= self.result_flush_seconds:
                    self._last_flush = time.monotonic()
                    await self.flush_results_async()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("batch processor loop error")
            await asyncio.sleep(poll_interval)

    def status(self) -> dict[str, Any]:
        """Counts and knobs for the admin API."""
        with self._lock:
            processed = self._db.execute(
                "SELECT status, COUNT(*) FROM sftp_processed_files GROUP BY status"
            ).fetchall()
        return {
            "processed_files": dict(processed),
            "pending_results": self.pending_results(),
            "slow_results": self.slow_results,
            "paused": self.paused,
            **self.control.faults(),
        }

    def close(self) -> None:
        """Close the SQLite connection."""
        with self._lock:
            self._closed = True
            self._db.close()

