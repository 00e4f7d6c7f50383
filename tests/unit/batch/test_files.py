"""
Cutting rows into files (flex_provider.batch.files): at most ``rows_per_file`` rows a file, numbered from 1
in each, written whole, with the digests the manifest promises; stale files of an earlier run removed.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timezone
from pathlib import Path

import polars as pl

from flex_provider.batch.files import BuiltFile, FileCutter, FileNames, remove_stale
from flex_provider.digest import sha256_file

DAY = date(2026, 11, 24)
EXPIRY = datetime(2026, 12, 15, tzinfo=timezone.utc)
NAMES = FileNames("evaluate", "m", DAY, "evaluate_", "json")


def _encoded(first: int, n: int) -> pl.DataFrame:
    """Rows as the encoder hands them over: body (after the sequence number), order id, key, own expiry."""
    ids = [f"o{i}" for i in range(first, first + n)]
    return pl.DataFrame(
        {
            "body": [f'"mid":"m","orderId":"{o}"}}' for o in ids],
            "order_id": ids,
            "key": [f"k-{o}" for o in ids],
            "expiry": [None if i % 2 else "2026-12-01T00:00:00+00:00" for i in range(first, first + n)],
        },
        schema={"body": pl.String, "order_id": pl.String, "key": pl.String, "expiry": pl.String},
    )


def test_rows_are_cut_at_2000_a_file_and_numbered_from_1_in_each(tmp_path: Path) -> None:
    built: list[BuiltFile] = []
    cutter = FileCutter(NAMES, tmp_path, rows_per_file=2000, first_number=3, default_expiry=EXPIRY,
                        on_file=built.append)  # fmt: skip
    for first in range(0, 4500, 700):  # chunks straddle the files
        cutter.add(_encoded(first, min(700, 4500 - first)))
    cutter.add(_encoded(0, 0))
    entries = cutter.finish()
    assert [(e.name, e.rows, e.first_order_id, e.last_order_id) for e in entries] == [
        ("evaluate_m_20261124_0003.json", 2000, "o0", "o1999"),
        ("evaluate_m_20261124_0004.json", 2000, "o2000", "o3999"),
        ("evaluate_m_20261124_0005.json", 500, "o4000", "o4499"),
    ]
    order = 0
    for entry in entries:
        path = tmp_path / entry.name
        raw = path.read_bytes()
        doc = json.loads(raw)
        assert (doc["fileNumber"], doc["rowCount"], doc["expiryDateUtc"]) == (int(entry.name[-9:-5]), entry.rows,
                                                                            "2026-12-15T00:00:00Z")  # fmt: skip
        assert [r["sequenceNumber"] for r in doc["rows"]] == [str(n) for n in range(1, entry.rows + 1)]
        assert [r["orderId"] for r in doc["rows"]] == [f"o{i}" for i in range(order, order + entry.rows)]
        order += entry.rows
        assert entry.sha256 == sha256_file(path) == hashlib.sha256(raw).hexdigest()
        lines = raw.split(b"\n")
        row_lines = b"\n".join(lines[1:-2]) + b"\n"  # between line 1 and the closing "]}" line
        assert lines[-2:] == [b"]}", b""]
        assert entry.rows_sha256 == hashlib.sha256(row_lines).hexdigest()
        side = json.loads((tmp_path / f"ledger_rows_{entry.name}.json").read_text())
        assert (side["file"], side["sha256"], side["rows"]) == (entry.name, entry.sha256, entry.rows)
        assert not list(tmp_path.glob("*.tmp"))
    # the ledger's view: each row's own expiry, else the envelope's
    frames = {b.entry.name: b.rows for b in built}
    last = frames["evaluate_m_20261124_0005.json"]
    assert last["sequence_number"].to_list()[:2] == [1, 2]
    assert last["expiry_date_utc"].to_list()[:2] == ["2026-12-01T00:00:00+00:00", "2026-12-15T00:00:00Z"]
    assert last["idempotency_key"][0] == "k-o4000"


def test_a_rerun_removes_only_its_own_higher_numbers(tmp_path: Path) -> None:
    def touch(name: str) -> None:
        (tmp_path / name).write_text("x")

    for n in range(1, 6):
        touch(NAMES.batch(n))
        touch(f"ledger_rows_{NAMES.batch(n)}.json")
    touch(NAMES.batch(6) + ".tmp")
    other_day = FileNames("evaluate", "m", date(2026, 11, 25), "evaluate_", "json").batch(9)
    touch(other_day)
    touch(FileNames("transmit", "m", DAY, "transmit_", "json").batch(4))
    keep = {NAMES.batch(2), NAMES.batch(3)}
    remove_stale(tmp_path, NAMES, 2, keep)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([
        NAMES.batch(1), f"ledger_rows_{NAMES.batch(1)}.json",  # below first_number: an uploaded file
        NAMES.batch(2), f"ledger_rows_{NAMES.batch(2)}.json",
        NAMES.batch(3), f"ledger_rows_{NAMES.batch(3)}.json",
        other_day, "transmit_m_20261124_0004.json",
    ])  # fmt: skip


def test_file_names_follow_the_documented_pattern() -> None:
    names = FileNames("transmit", "6c5b", DAY, "transmit_", "csv")
    assert names.batch(12) == "transmit_6c5b_20261124_0012.csv"
    assert names.rejects == "rejects_transmit_6c5b_20261124.csv"
    assert names.manifest == "manifest_transmit_6c5b_20261124.json"
