"""Flex's batch file formats, as the sandbox reads and writes them (docs/batch-files.md).

Inbound names and their validation (``parse_inbound``: envelope, token, row counts; CSV transmits),
the line layout of ack and result files, atomic writes, and the per-row error list of an ack.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

MAX_ROWS = 2000
INBOUND_RE = re.compile(r"^(?P<kind>evaluate|transmit)_[^/]+\.(?P<fmt>json|csv)$")
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


def iso_z(dt: datetime) -> str:
    """A datetime as ``YYYY-MM-DDTHH:MM:SSZ`` in UTC (the files' timestamp form)."""
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


def write_chunk(path: Path, chunk: bytes, *, append: bool) -> None:
    """Write (or append) one chunk in place: the slow-results fault, where readers may see a partial file."""
    with open(path, "ab" if append else "wb") as f:
        f.write(chunk)


def problem_errors(body: Any) -> list[dict[str, Any]]:
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


def unflatten(flat: dict[str, str]) -> dict[str, Any]:
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


def parse_inbound(raw: bytes, kind: str, fmt: str, mid: str,
                  mid_for_token: Callable[[str], str | None]) -> tuple[dict[str, Any], list[Any]]:
    """Validate an inbound file (envelope, token, row count) -> (envelope, rows); raises FileRejected."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileRejected("bad_encoding", f"file is not UTF-8: {exc}") from None
    if fmt == "csv":
        return parse_csv(text, mid)
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
    if mid_for_token(parts[1]) != mid:
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


def parse_csv(text: str, mid: str) -> tuple[dict[str, Any], list[Any]]:
    """A transmit CSV -> (envelope, nested rows); raises FileRejected."""
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
        row = unflatten(flat)
        if row.get("mid", mid) != mid:
            raise FileRejected("wrong_mid", f"mid {row.get('mid')!r} does not match this SFTP account")
        rows.append(row)
    return {"fileType": "transmit", "mid": mid}, rows
