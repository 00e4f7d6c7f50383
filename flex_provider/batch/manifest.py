"""
What the shipper and the ledger read back from a run: the manifest, each file's ledger rows, line 1.

The manifest is written last by :class:`~flex_provider.batch.writer.BatchWriter`; a file's ledger rows
come from its sidecar (checked against the file's sha256) or, failing that, from the file itself.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from flex_provider.digest import sha256_file
from flex_provider.models.batch import Manifest
from flex_provider.utc import to_utc

ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _utc(text: str) -> datetime:
    """ISO text the writer wrote (``Z`` or an offset) as aware UTC; raises on anything else."""
    return to_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))


def write_atomic(path: Path, data: bytes, *, sync: bool = True) -> None:
    """Write ``data`` under ``<name>.tmp``, fsync (unless ``sync`` is false), and move it into place."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        if sync:
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, path)


def envelope_line(header: Mapping[str, Any]) -> str:
    """Line 1 of a JSON batch file: the envelope keys, then ``"rows":[``."""
    return ENCODE(dict(header))[:-1] + ',"rows":['


def read_manifest(path: str | os.PathLike[str]) -> Manifest:
    """Load and validate a manifest written by :class:`~flex_provider.batch.writer.BatchWriter`."""
    return Manifest.model_validate_json(Path(path).read_bytes())


def fill_authorization_token(first_line: str, bearer_token: str) -> str:
    """
    Return line 1 of a JSON batch file with ``authorizationToken`` set to ``Bearer <token>``.

    Lines that are not a JSON envelope (a CSV header row) come back unchanged: CSV files carry no token.
    """
    stripped = first_line.rstrip("\r\n")
    if not stripped.startswith("{"):
        return stripped
    if not stripped.endswith('"rows":['):
        raise ValueError("line 1 is not a batch envelope (it must end with '\"rows\":[')")
    header = json.loads(stripped + "]}")
    header.pop("rows")
    if "authorizationToken" not in header:
        raise ValueError("line 1 has no authorizationToken key")
    header["authorizationToken"] = (
        bearer_token if bearer_token.startswith("Bearer ") else f"Bearer {bearer_token}"
    )
    return envelope_line(header)


def first_line_transform(bearer_token: str) -> Callable[[str], str]:
    """A ``transform_first_line`` callable for ``FlexSftpHook.upload_files`` that inserts the token."""

    def _transform(line: str) -> str:
        return fill_authorization_token(line, bearer_token)

    return _transform


def render_for_upload(path: str | os.PathLike[str], bearer_token: str) -> str:
    """Read line 1 of a local batch file and return it with the bearer token filled in."""
    with Path(path).open(encoding="utf-8") as fh:
        return fill_authorization_token(fh.readline(), bearer_token)


def iter_batch_rows(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """
    Stream the ledger view of a local batch file (JSON or CSV) this writer produced.

    Yields ``order_id``, ``sequence_number``, ``idempotency_key`` and ``expiry_date_utc`` (the row's
    own value, else the envelope default, as an aware datetime or None), one row at a time.
    """
    p = Path(path)
    if p.suffix == ".csv":
        with p.open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                yield {
                    "order_id": row["orderId"],
                    "sequence_number": row["sequenceNumber"],
                    "idempotency_key": row.get("idempotencyKey") or None,
                    "expiry_date_utc": None,
                }
        return
    with p.open(encoding="utf-8") as fh:
        header = json.loads(fh.readline().rstrip("\n") + "]}")
        default = header.get("expiryDateUtc")
        for line in fh:
            line = line.rstrip("\n").rstrip(",")
            if not line or line == "]}":
                continue
            row = json.loads(line)
            expiry = row.get("expiryDateUtc") or default
            yield {
                "order_id": row["orderId"],
                "sequence_number": row["sequenceNumber"],
                "idempotency_key": row.get("idempotencyKey"),
                "expiry_date_utc": _utc(expiry) if expiry else None,
            }


def ledger_rows_name(batch_file_name: str) -> str:
    """Name of the sidecar next to a batch file holding its ledger rows (see :func:`read_ledger_rows`)."""
    return f"ledger_rows_{batch_file_name}.json"


def read_ledger_rows(path: str | os.PathLike[str], sha256: str | None = None) -> list[dict[str, Any]] | None:
    """
    The ledger view of a batch file (as :func:`iter_batch_rows` yields it) from the writer's sidecar.

    None when there is no sidecar, or it is not this file's (its recorded ``sha256`` differs from
    ``sha256``, or the file itself when ``sha256`` is None): read the file with ``iter_batch_rows`` then.
    """
    p = Path(path)
    side = p.with_name(ledger_rows_name(p.name))
    try:
        doc = json.loads(side.read_bytes())
    except (OSError, ValueError):
        return None
    expected = sha256 if sha256 is not None else (sha256_file(p) if p.is_file() else None)
    if not isinstance(doc, dict) or doc.get("file") != p.name or doc.get("sha256") != expected:
        return None
    rows = doc.get("ledger_rows")
    if not isinstance(rows, list) or len(rows) != doc.get("rows"):
        return None
    parsed: dict[str, datetime] = {}
    default = doc.get("default_expiry")
    out = []
    for n, (order_id, key, expiry) in enumerate(rows, start=1):
        text = expiry or default
        if text and text not in parsed:
            parsed[text] = _utc(text)
        out.append(
            {
                "order_id": order_id,
                "sequence_number": str(n),
                "idempotency_key": key,
                "expiry_date_utc": parsed[text] if text else None,
            }
        )
    return out
