"""``flex_provider.batch.day_files``: one business day's files against the ledger (SQLite ledger, real files)."""

from __future__ import annotations

import csv
from datetime import date, datetime, timezone
from pathlib import Path

from flex_provider.batch.day_files import write_day_files
from flex_provider.batch.manifest import iter_batch_rows, read_manifest
from flex_provider.digest import sha256_file
from flex_provider.ledger import FlexLedger
from flex_provider.models.batch import AckFile
from tests.fixtures.batch import source_row

DAY = date(2026, 11, 24)


def _write(ledger: FlexLedger, mid: str, out: Path, ids: range, **kw) -> dict:
    rows = [source_row(i) for i in ids]
    return write_day_files([rows], ledger=ledger, kind="evaluate", mid=mid, business_date=DAY, out_dir=out,
                           rows_per_file=kw.pop("rows_per_file", 10), **kw)


def _record(ledger: FlexLedger, summary: dict, name: str, *, rows: bool = True) -> Path:
    """What the ship step records for one file before its upload: the file (and its rows)."""
    path = Path(summary["manifest"]).parent / name
    manifest = read_manifest(summary["manifest"])
    entry = next(e for e in manifest.files if e.name == name)
    ledger.record_file(name, business_date=DAY, kind="evaluate", mid=manifest.mid, rows=entry.rows,
                       sha256=entry.sha256, rows_sha256=entry.rows_sha256)
    if rows:
        ledger.record_rows(name, iter_batch_rows(path))
    return path


def _ship(ledger: FlexLedger, summary: dict, name: str) -> None:
    """What the ship step leaves in the ledger for one file: recorded, rows recorded, uploaded."""
    path = _record(ledger, summary, name)
    ledger.mark_uploaded(name, path.stat().st_size, sha256_file(path))


def _orders(path: Path) -> list[str]:
    return [r["order_id"] for r in iter_batch_rows(path)]


def test_first_write_numbers_from_one_and_resends_nothing(ledger, mid: str, tmp_path: Path) -> None:
    summary = _write(ledger, mid, tmp_path / "d1", range(25))
    names = [Path(f).name for f in summary["files"]]
    assert [n.rsplit("_", 1)[1] for n in names] == ["0001.json", "0002.json", "0003.json"]
    assert summary["first_file_number"] == 1 and summary["resend"] == [] and summary["written"] == 25  # noqa: PT018
    assert summary["business_date"] == "2026-11-24" and summary["dry_run"] is False  # noqa: PT018


def test_a_rerun_never_writes_a_shipped_order_again_and_numbers_after_shipped_files(ledger, mid: str, tmp_path: Path) -> None:
    out = tmp_path / "d"
    first = _write(ledger, mid, out, range(10))
    _ship(ledger, first, Path(first["files"][0]).name)
    again = _write(ledger, mid, out, range(13))  # the same ten orders, three new ones
    assert again["first_file_number"] == 2
    assert again["written"] == 3 and again["rejected"] == 10  # noqa: PT018
    (new_file,) = again["files"]
    assert Path(new_file).name.endswith("_0002.json")
    assert _orders(out / new_file) == [source_row(i)["order_id"] for i in (10, 11, 12)]
    with Path(again["rejects_file"]).open(newline="") as fh:
        reasons = {r["order_id"]: r["reason"] for r in csv.DictReader(fh)}
    assert reasons == {source_row(i)["order_id"]: "already_shipped" for i in range(10)}


def test_files_recorded_but_never_uploaded_are_rebuilt_under_their_number(ledger, mid: str, tmp_path: Path) -> None:
    out = tmp_path / "d"
    first = _write(ledger, mid, out, range(10))
    name = Path(first["files"][0]).name
    _record(ledger, first, name)  # then a crash before the upload
    again = _write(ledger, mid, out, range(10))
    assert again["first_file_number"] == 1 and again["rejected"] == 0  # noqa: PT018
    assert [Path(f).name for f in again["files"]] == [name]
    assert ledger.file_state(name) is None  # discarded: the ship step records it afresh


def test_a_dry_run_touches_no_ledger_record(ledger, mid: str, tmp_path: Path) -> None:
    out = tmp_path / "d"
    first = _write(ledger, mid, out, range(10))
    name = Path(first["files"][0]).name
    _record(ledger, first, name, rows=False)
    summary = _write(ledger, mid, tmp_path / "dry", range(10), dry_run=True)
    assert summary["dry_run"] is True
    assert ledger.file_state(name) == "written"  # not discarded by the dry run


def test_files_flex_rejected_whole_are_listed_for_resending(ledger, mid: str, tmp_path: Path) -> None:
    out = tmp_path / "d"
    first = _write(ledger, mid, out, range(10))
    name = Path(first["files"][0]).name
    _ship(ledger, first, name)
    ledger.apply_ack(AckFile(file_type="ack", inbound_file=name, mid=mid, status="REJECTED", row_count=10,
                             accepted=0, rejected=10, received_at_utc=datetime(2026, 11, 24, 7, tzinfo=timezone.utc),
                             file_errors=["authorization token expired"]))
    again = _write(ledger, mid, out, range(10, 12))
    assert again["resend"] == [name]
    assert again["first_file_number"] == 2
