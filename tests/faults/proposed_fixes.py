"""
Proposed fixes for bugs the fault suite found in code it does not own, applied only while the bug is there.

``apply_if_needed()`` probes each bug; when it is present, it patches the fix in (for this test process
only) and returns the names of the patches, so the other fault tests exercise the intended behaviour.
``test_found_bugs.py`` shows each bug on the unpatched code (strict xfail: once the real fix lands,
the probe finds nothing to patch and those tests XPASS, which tells you to drop the marker).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flex_provider.batch import outbound

ORIGINAL_RAW_ROWS = outbound._raw_rows

SAMPLE_ACK = (
    '{"fileType":"ack","inboundFile":"evaluate_m_20261124_0001.json","mid":"m","receivedAtUtc":'
    '"2026-11-25T16:06:08Z","status":"PROCESSED","rowCount":1,"accepted":1,"rejected":0,"fileErrors":[],'
    '"rows":[\n{"sequenceNumber":"1","orderId":"o1","orderSessionKey":"k","status":"SUBMITTED","errors":[]}\n]}\n'
)


def ack_last_row_bug_present(tmp: Path) -> bool:
    """True when an ack whose last row ends in ``[]}`` (its ``errors`` array) is taken as malformed."""
    path = tmp / "ack_evaluate_m_20261124_0001.json"
    path.write_text(SAMPLE_ACK, encoding="utf-8")
    try:
        header, rows = ORIGINAL_RAW_ROWS(path)  # noqa: RUF059
        list(rows)
    except outbound.MalformedOutboundFile:
        return True
    return False


def fixed_raw_rows(path: Path) -> tuple[dict[str, Any], Iterator[tuple[int, Any]]]:
    """``outbound._raw_rows`` with the fix: a line is a row first; ``]}`` is split off only if it is not."""
    name = path.name
    fh = path.open(encoding="utf-8")
    try:
        first = fh.readline()
    except UnicodeDecodeError:
        fh.close()
        raise outbound.MalformedOutboundFile(name, "not UTF-8 text") from None
    stripped = first.rstrip("\r\n")
    if not (stripped.startswith("{") and stripped.endswith('"rows":[')):
        fh.close()
        return ORIGINAL_RAW_ROWS(path)
    try:
        header = json.loads(stripped + "]}")
    except json.JSONDecodeError as exc:
        fh.close()
        raise outbound.MalformedOutboundFile(name, f"line 1 is not a JSON envelope ({exc.msg})") from None
    header.pop("rows", None)

    def lines() -> Iterator[tuple[int, Any]]:
        closed = False
        with fh:
            try:
                for number, line in enumerate(fh, start=2):
                    text = line.strip()
                    if not text:
                        continue
                    if closed:
                        raise outbound.MalformedOutboundFile(
                            name, f"content after the closing ']}}' (line {number})"
                        )
                    if text == "]}":
                        closed = True
                        continue
                    try:
                        yield number, json.loads(text.removesuffix(","))
                        continue
                    except json.JSONDecodeError as exc:
                        error = exc
                    if text.endswith("]}"):  # the last row and the closing on one line
                        try:
                            row = json.loads(text[:-2].rstrip())
                        except json.JSONDecodeError:
                            pass
                        else:
                            closed = True
                            yield number, row
                            continue
                    raise outbound.MalformedOutboundFile(name, f"line {number} is not JSON ({error.msg})")
            except UnicodeDecodeError:
                raise outbound.MalformedOutboundFile(name, "not UTF-8 text") from None
        if not closed:
            raise outbound.MalformedOutboundFile(name, "truncated: no closing ']}'")

    return header, lines()


def apply_if_needed(tmp: Path, monkeypatch: Any) -> list[str]:
    applied = []
    if ack_last_row_bug_present(tmp):
        monkeypatch.setattr(outbound, "_raw_rows", fixed_raw_rows)
        applied.append("outbound._raw_rows: ack last row ending in ']}'")
    return applied
