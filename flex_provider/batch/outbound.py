"""
Read Flex's outbound files (ack and result, docs/batch-files.md) and apply them to the ledger.

Files are read line by line: line 1 is the envelope, then one row per line. A file that is one JSON
document in another layout (pretty-printed, or all on one line) is still accepted, read whole. A file
that does not match the models is malformed: it raises :class:`MalformedOutboundFile`, and
:func:`process_outbound_files` moves it to quarantine with a ``<name>.reason.txt`` and goes on.
A file is applied in one transaction as it is read (result files column-wise,
:mod:`flex_provider.batch.result_columns`); a malformed row raises and rolls it back, so a malformed file
changes nothing.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from flex_provider.digest import sha256_file
from flex_provider.models.batch import AckFile, AckHeader, AckRow, ResultHeader, ResultRow
from flex_provider.pci import mask_pans

if TYPE_CHECKING:
    from flex_provider.batch.ledger import FlexLedger

log = logging.getLogger(__name__)


class MalformedOutboundFile(ValueError):
    """An outbound file that cannot be trusted; ``reason`` says why (never file content)."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


def _loads(text: str) -> tuple[Any, str | None]:
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, exc.msg


def _describe(exc: ValidationError) -> str:
    errors = exc.errors(include_input=False, include_url=False, include_context=False)
    parts = [f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['type']}: {e['msg']}" for e in errors[:5]]
    return mask_pans("; ".join(parts))


def outbound_kind(name: str) -> str | None:
    """``ack`` or ``result`` from a file name, None for anything else."""
    base = os.path.basename(name)
    if not base.endswith(".json"):
        return None
    if base.startswith("ack_"):
        return "ack"
    if base.startswith("result_"):
        return "result"
    return None


def line_row(name: str, number: int, line: str, closed: bool) -> tuple[bool, Any, bool]:
    """One line of a streamed file: (holds a row, the decoded row, closed after it); raises if malformed."""
    text = line.strip()
    if not text:
        return False, None, closed
    if closed:
        raise MalformedOutboundFile(name, f"content after the closing ']}}' (line {number})")
    if text == "]}":
        return False, None, True
    # A line is a row first: a row may itself end in "]}" (e.g. '"errors":[]}').
    row, error = _loads(text.removesuffix(","))
    if error is not None and text.endswith("]}"):  # the last row and the closing on one line
        row, error = _loads(text[:-2].rstrip())
        closed = error is None
    if error is not None:
        cut = "" if line.endswith("\n") else ", truncated"
        raise MalformedOutboundFile(name, f"line {number} is not JSON ({error}{cut})")
    return True, row, closed


def validated_row(name: str, model: type[BaseModel], raw: Any, count: int, number: int) -> Any:
    """``raw`` (the ``count``-th row, on line ``number``) through ``model``; raises if malformed."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise MalformedOutboundFile(name, f"bad row {count} (line {number}): {_describe(exc)}") from None


def check_row_count(name: str, header: Any, count: int) -> None:
    """The file holds as many rows as its envelope says (a REJECTED ack holds none)."""
    expected = header.row_count
    if not (isinstance(header, AckHeader) and header.status == "REJECTED") and count != expected:
        raise MalformedOutboundFile(name, f"rowCount is {expected} but the file holds {count} rows")


#: UTF-8, with or without a byte order mark (RFC 8259 lets a reader ignore one; .NET writers add it).
TEXT_ENCODING = "utf-8-sig"


def _raw_rows(path: Path) -> tuple[dict[str, Any], Iterator[tuple[int, Any]]]:
    """Envelope dict (without ``rows``) and an iterator of (line number, decoded row)."""
    name = path.name
    fh = path.open(encoding=TEXT_ENCODING)
    try:
        first = fh.readline()
    except UnicodeDecodeError:
        fh.close()
        raise MalformedOutboundFile(name, "not UTF-8 text") from None
    stripped = first.rstrip("\r\n")
    streamed = stripped.startswith("{") and stripped.endswith('"rows":[')
    if streamed:
        try:
            header = json.loads(stripped + "]}")
        except json.JSONDecodeError as exc:
            fh.close()
            raise MalformedOutboundFile(name, f"line 1 is not a JSON envelope ({exc.msg})") from None
    else:
        fh.close()
        try:
            document = json.loads(path.read_text(encoding=TEXT_ENCODING))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise MalformedOutboundFile(name, f"not valid JSON ({getattr(exc, 'msg', exc)})") from None
        if not isinstance(document, dict) or not isinstance(document.get("rows"), list):
            raise MalformedOutboundFile(name, "not a JSON object with a 'rows' array")
        rows = document.pop("rows")
        return document, iter(enumerate(rows, start=1))
    header.pop("rows", None)

    def lines() -> Iterator[tuple[int, Any]]:
        closed = False
        with fh:
            for number, line in enumerate(fh, start=2):
                has_row, row, closed = line_row(name, number, line, closed)
                if has_row:
                    yield number, row
        if not closed:
            raise MalformedOutboundFile(name, "truncated: no closing ']}'")

    return header, lines()


def _iter_validated(
    path: Path, header_model: type[BaseModel], row_model: type[BaseModel]
) -> tuple[Any, Iterator[Any]]:
    name = path.name
    raw_header, raw_rows = _raw_rows(path)
    try:
        header = header_model.model_validate(raw_header)
    except ValidationError as exc:
        raise MalformedOutboundFile(name, f"bad envelope: {_describe(exc)}") from None

    def rows() -> Iterator[Any]:
        count = 0
        for number, raw in raw_rows:
            count += 1
            yield validated_row(name, row_model, raw, count, number)
        check_row_count(name, header, count)

    return header, rows()


def read_ack_file(path: str | os.PathLike[str]) -> AckFile:
    """Parse and validate an acknowledgement file (at most 2000 rows, so it is held whole)."""
    header, rows = _iter_validated(Path(path), AckHeader, AckRow)
    return AckFile(**header.model_dump(), rows=list(rows))


def iter_result_file(path: str | os.PathLike[str]) -> tuple[ResultHeader, Iterator[ResultRow]]:
    """Envelope and a lazy row iterator of a result file; the iterator raises on a malformed row."""
    return _iter_validated(Path(path), ResultHeader, ResultRow)


def validate_result_file(path: str | os.PathLike[str]) -> ResultHeader:
    """Stream a whole result file through the models without keeping rows; returns the envelope."""
    header, rows = iter_result_file(path)
    collections.deque(rows, maxlen=0)  # validate every row, keep none (flat memory)
    return header


def quarantine(path: str | os.PathLike[str], quarantine_dir: str | os.PathLike[str], reason: str) -> Path:
    """Move a file into ``quarantine_dir`` and write ``<name>.reason.txt`` next to it."""
    src = Path(path)
    qdir = Path(quarantine_dir)
    qdir.mkdir(parents=True, exist_ok=True)
    target = qdir / src.name
    note = qdir / f"{src.name}.reason.txt"
    tmp = note.with_name(note.name + ".tmp")
    tmp.write_text(reason + "\n", encoding="utf-8")
    os.replace(tmp, note)
    shutil.move(str(src), str(target))
    return target


def process_outbound_files(
    paths: Iterable[str | os.PathLike[str]],
    ledger: FlexLedger,
    quarantine_dir: str | os.PathLike[str],
) -> dict[str, Any]:
    """
    Apply downloaded ack and result files to the ledger, oldest name first; quarantine malformed ones.

    Files the ledger already lists as processed or quarantined are skipped, so a rerun is a no-op.
    Each file is validated in full before it is applied. Returns a small summary (fit for XCom).
    """
    done = ledger.processed_outbound_names()
    summary: dict[str, Any] = {
        "processed": [],
        "quarantined": [],
        "skipped": [],
        "ack_rows": 0,
        "result_rows": 0,
        "results": {"applied": 0, "ignored": 0, "unknown": 0},
    }
    for path in sorted((Path(p) for p in paths), key=lambda p: p.name):
        name = path.name
        if name in done:
            summary["skipped"].append(name)
            continue
        kind = outbound_kind(name)
        digest = sha256_file(path)
        try:
            if kind is None:
                raise MalformedOutboundFile(name, "not an ack_*.json or result_*.json file name")
            if kind == "ack":
                ack = read_ack_file(path)
                counts = ledger.apply_ack(ack)
                summary["ack_rows"] += counts["rows"]
            else:
                from flex_provider.batch.result_columns import iter_result_blocks

                # One pass, one transaction: a malformed row raises mid-file and rolls it all back.
                header, blocks = iter_result_blocks(path)
                counts = ledger.apply_result_blocks(
                    blocks, mid=header.mid, file_name=name, reread=lambda p=path: iter_result_blocks(p)[1]
                )
                summary["result_rows"] += counts["received"]
                for key in ("applied", "ignored", "unknown"):
                    summary["results"][key] += counts[key]
        except MalformedOutboundFile as exc:
            log.warning("Quarantining outbound file %s: %s", name, exc.reason)
            quarantine(path, quarantine_dir, exc.reason)
            ledger.mark_outbound_processed(name, digest, kind or "unknown", "quarantined", exc.reason)
            summary["quarantined"].append(name)
            continue
        ledger.mark_outbound_processed(name, digest, kind, "processed")
        summary["processed"].append(name)
    return summary
