"""The sandbox's batch processing: Flex's side of docs/batch-files.md.

Picks up complete inbound files of every account under the SFTP root, validates them, runs each row
through ``state.evaluate`` / ``state.transmit`` (``source="sftp"``), writes an ack file atomically,
archives (or quarantines) the inbound file, and writes result files from ``OrderEvent``s. Its own
SQLite file (``root/../batches.sqlite``) holds the processed-files table and the result outbox, so a
restart neither processes a file twice nor loses a pending result row.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from flex_provider.sandbox.sftp_server import ACCOUNT_DIRS, SFTPServerControl, control_for

log = logging.getLogger(__name__)

MAX_ROWS = 2000
INBOUND_RE = re.compile(r"^(?P<kind>evaluate|transmit)_[^/]+\.(?P<fmt>json|csv)$")
_OK_ROW = {"evaluate": "SUBMITTED", "transmit": "SUCCESS"}
_RESULT_EVENTS = {"order.completed": "APPROVED", "order.expired": "EXPIRED"}
# CSV cells that hold numbers in the /transmit body (everything else stays a string; true/false -> bool)
_CSV_INT_FIELDS = {
    "transaction.amount", "transaction.timezoneUtcOffset", "paymentMethod.expirationMonth",
    "paymentMethod.expirationYear", "subscription.price", "merchant.mcc",
}  # fmt: skip



def ack_name_of(inbound_name: str) -> str:
    """The acknowledgement's name for an inbound file: ``ack_<stem>.json`` (docs/batch-files.md)."""
    stem = inbound_name.rsplit(".", 1)[0] if "." in inbound_name else inbound_name
    return f"ack_{stem}.json"


class FileRejected(Exception):
    """A file-level failure: the ack says REJECTED with these ``fileErrors``."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def line_layout(envelope: dict[str, Any], rows: list[dict[str, Any]]) -> bytes:
    """One JSON document: envelope keys and ``"rows":[`` on line 1, then one row per line."""
    head = json.dumps(envelope, separators=(",", ":"))[:-1]
    head += ("," if envelope else "") + '"rows":['
    body = ",\n".join(json.dumps(r, separators=(",", ":")) for r in rows)
    return (head + "\n" + body + ("\n" if rows else "") + "]}\n").encode()


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``path`` via ``<path>.part`` and a rename, so readers never see a partial file."""
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _write_chunk(path: Path, chunk: bytes, *, append: bool) -> None:
    with open(path, "ab" if append else "wb") as f:
        f.write(chunk)


def _problem_errors(body: Any) -> list[dict[str, Any]]:
    """Field errors of a problem-details (or Flex envelope) body as ``[{"field", "message"}]``."""
    out: list[dict[str, Any]] = []
    if not isinstance(body, dict):
        return [{"field": None, "message": str(body)}]
    errors = body.get("errors")
    if isinstance(errors, dict):
        for fld, msgs in errors.items():
            for msg in msgs if isinstance(msgs, list) else [msgs]:
                out.append({"field": fld, "message": str(msg)})
    elif isinstance(errors, list):
        for e in errors:
            if isinstance(e, dict):
                out.append(
                    {
                        "field": e.get("field") or e.get("item2"),
                        "message": str(e.get("message") or e.get("item1")),
                    }
                )
            else:
                out.append({"field": None, "message": str(e)})
    if not out:
        msg = (
            body.get("detail")
            or body.get("title")
            or body.get("responseMessage")
            or body.get("status")
            or "rejected"
        )
        out.append({"field": None, "message": str(msg)})
    return out


def _unflatten(flat: dict[str, str]) -> dict[str, Any]:
    """CSV row -> nested /transmit body: ``a.b`` keys nest, empty cells are dropped, types restored."""
    out: dict[str, Any] = {}
    for key, raw in flat.items():
        if key is None or raw is None or raw == "":
            continue
        value: Any = raw
        if raw.lower() in ("true", "false"):
            value = raw.lower() == "true"
        elif key in _CSV_INT_FIELDS:
            try:
                value = int(raw)
            except ValueError:
                try:
                    value = float(raw)
                except ValueError:
                    value = raw
        node = out
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                break
        else:
            node[parts[-1]] = value
    return out


class BatchProcessor:
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
        received = _iso(self.now())
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
            envelope, rows = self._parse(raw, kind, fmt, mid)
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

    # -- parsing -------------------------------------------------------------------------------
    def _parse(self, raw: bytes, kind: str, fmt: str, mid: str) -> tuple[dict[str, Any], list[Any]]:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise FileRejected("bad_encoding", f"file is not UTF-8: {exc}") from None
        if fmt == "csv":
            return self._parse_csv(text, mid)
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FileRejected("invalid_json", f"file is not valid JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise FileRejected("invalid_envelope", "file must be one JSON object (the envelope)")
        if doc.get("fileType") != kind:
            raise FileRejected(
                "file_type", f"fileType must be {kind!r} for a {kind}_ file, got {doc.get('fileType')!r}"
            )
        if doc.get("schemaVersion", 1) != 1:
            raise FileRejected("schema_version", f"unsupported schemaVersion {doc.get('schemaVersion')!r}")
        if doc.get("mid") != mid:
            raise FileRejected("wrong_mid", f"mid {doc.get('mid')!r} does not match this SFTP account")
        token = doc.get("authorizationToken")
        if not isinstance(token, str) or not token.strip():
            raise FileRejected("missing_token", "authorizationToken 'Bearer <token>' is required")
        parts = token.strip().split(None, 1)
        if len(parts) != 2 or parts[0].lower() != "bearer":
            raise FileRejected("bad_token", "authorizationToken must look like 'Bearer <token>'")
        if self.state.mid_for_token(parts[1]) != mid:
            raise FileRejected(
                "invalid_token", "authorizationToken is unknown, expired or for another merchant"
            )
        rows = doc.get("rows")
        if not isinstance(rows, list):
            raise FileRejected("invalid_envelope", "rows must be a JSON array")
        if len(rows) > MAX_ROWS:
            raise FileRejected("too_many_rows", f"{len(rows)} rows; at most {MAX_ROWS} rows per file")
        if "rowCount" in doc and doc["rowCount"] != len(rows):
            raise FileRejected("row_count", f"rowCount {doc['rowCount']!r} but the file has {len(rows)} rows")
        if (
            kind == "evaluate"
            and doc.get("expiryDateUtc") is not None
            and not isinstance(doc["expiryDateUtc"], str)
        ):
            raise FileRejected("invalid_envelope", "expiryDateUtc must be an ISO-8601 string")
        return doc, rows

    def _parse_csv(self, text: str, mid: str) -> tuple[dict[str, Any], list[Any]]:
        try:
            reader = csv.DictReader(io.StringIO(text, newline=""))
            flat_rows = list(reader)
            header = reader.fieldnames or []
        except csv.Error as exc:
            raise FileRejected("invalid_csv", f"file is not valid CSV: {exc}") from None
        if "sequenceNumber" not in header:
            raise FileRejected("invalid_csv", "header must contain sequenceNumber")
        if len(flat_rows) > MAX_ROWS:
            raise FileRejected("too_many_rows", f"{len(flat_rows)} rows; at most {MAX_ROWS} rows per file")
        rows = []
        for flat in flat_rows:
            if None in flat:
                raise FileRejected("invalid_csv", f"row {reader.line_num}: more cells than header columns")
            row = _unflatten(flat)
            if row.get("mid", mid) != mid:
                raise FileRejected("wrong_mid", f"mid {row.get('mid')!r} does not match this SFTP account")
            rows.append(row)
        return {"fileType": "transmit", "mid": mid}, rows

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
            out["errors"] = _problem_errors(resp)
        return out

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
            "timestampUtc": _iso(ts) if isinstance(ts, datetime) else ts,
        }
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO sftp_result_outbox (mid, event_key, row, created_at) VALUES (?, ?, ?, ?)",
                (event.mid, f"{event.event}:{event.order_id}", json.dumps(row, separators=(",", ":")),
                 _iso(datetime.now(timezone.utc))),
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
                return mid, path, [r[0] for r in got], [json.loads(r[1]) for r in got], _iso(now), n
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
                _write_chunk(path, data[i : i + step], append=i > 0)
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


def admin_router(processor: BatchProcessor, server_ctl: SFTPServerControl | None = None) -> Any:
    """FastAPI router for ``/_sandbox/sftp``: status, faults, process-now, host key rotation."""
    from fastapi import APIRouter, HTTPException

    ctl = server_ctl or processor.control
    router = APIRouter()

    @router.get("/status")
    def status() -> dict[str, Any]:
        return processor.status()

    @router.post("/faults")
    def set_faults(body: dict[str, Any]) -> dict[str, Any]:
        unknown = set(body) - {"slow_results", "cut_session_after_bytes", "paused", "refuse_orders"}
        if unknown:
            raise HTTPException(422, f"unknown fault(s): {sorted(unknown)}")
        if "slow_results" in body:
            processor.slow_results = float(body["slow_results"] or 0)
        if "paused" in body:
            processor.paused = bool(body["paused"])
        if "refuse_orders" in body:
            processor.refuse_orders = {str(o) for o in body["refuse_orders"] or ()}
        if "cut_session_after_bytes" in body:
            v = body["cut_session_after_bytes"]
            ctl.cut_session_after_bytes = None if v is None else int(v)
        return processor.status()

    @router.post("/faults/reset")
    def reset_faults() -> dict[str, Any]:
        processor.slow_results = 0.0
        processor.paused = False
        processor.refuse_orders = set()
        ctl.cut_session_after_bytes = None
        return processor.status()

    @router.post("/process")
    async def process_now() -> dict[str, Any]:
        acks = await asyncio.to_thread(processor.process_pending)
        acks += await asyncio.to_thread(processor.process_pending)  # 2nd poll: files only size-stable
        return {"acks": acks, "results": await processor.flush_results_async()}

    @router.post("/host-key/rotate")
    def rotate_host_key() -> dict[str, str]:
        return {"sftp_host_key": ctl.rotate_host_key()}

    return router
