"""``flex_provider.batch.day_files``: one business day's files against the ledger (SQLite ledger, real files)."""

from __future__ import annotations

import csv
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from flex_provider.batch.day_files import write_day_files
from flex_provider.batch.manifest import iter_batch_rows, read_manifest
from flex_provider.digest import sha256_file
from flex_provider.ledger import FlexLedger
from flex_provider.models.batch import AckFile
from tests.fixtures.batch import MID, source_row

DAY = date(2026, 11, 24)


@pytest.fixture
def ledger(tmp_path: Path):
    led = FlexLedger.from_url(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield led
    led.engine.dispose()


def _write(ledger: FlexLedger, out: Path, ids: range, **kw) -> dict:
    rows = [source_row(i) for i in ids]
    return write_day_files([rows], ledger=ledger, kind="evaluate", mid=MID, business_date=DAY, out_dir=out,
                           rows_per_file=kw.pop("rows_per_file", 10), **kw)


def _ship(ledger: FlexLedger, summary: dict, name: str) -> None:
    """What the ship step leaves in the ledger for one file: recorded, rows recorded, uploaded."""
    out = Path(summary["manifest"]).parent
    entry = next(e for e in read_manifest(summary["manifest"]).files if e.name == name)
    ledger.record_file(name, business_date=DAY, kind="evaluate", mid=MID, rows=entry.rows,
                       sha256=entry.sha256, rows_sha256=entry.rows_sha256)
    ledger.record_rows(name, iter_batch_rows(out / name))
    ledger.mark_uploaded(name, (out / name).stat().st_size, sha256_file(out / name))


def _orders(path: Path) -> list[str]:
    return [r["order_id"] for r in iter_batch_rows(path)]


def _manifest_name(summary: dict) -> Path:
    return Path(summary["manifest"])


def test_first_write_numbers_from_one_and_resends_nothing(ledger, tmp_path: Path) -> None:
    summary = _write(ledger, tmp_path / "d1", range(25))
    names = [Path(f).name for f in summary["files"]]
    assert [n.rsplit("_", 1)[1] for n in names] == ["0001.json", "0002.json", "0003.json"]
    assert summary["first_file_number"] == 1 and summary["resend"] == [] and summary["written"] == 25  # noqa: PT018
    assert summary["business_date"] == "2026-11-24" and summary["dry_run"] is False  # noqa: PT018


def test_a_rerun_never_writes_a_shipped_order_again_and_numbers_after_shipped_files(ledger, tmp_path: Path) -> None:
    out = tmp_path / "d"
    first = _write(ledger, out, range(10))
    _ship(ledger, first, Path(first["files"][0]).name)
    again = _write(ledger, out, range(13))  # the same ten orders, three new ones
    assert again["first_file_number"] == 2
    assert again["written"] == 3 and again["rejected"] == 10  # noqa: PT018
    (new_file,) = again["files"]
    assert Path(new_file).name.endswith("_0002.json")
    assert _orders(out / new_file) == [source_row(i)["order_id"] for i in (10, 11, 12)]
    with Path(again["rejects_file"]).open(newline="") as fh:
        reasons = {r["order_id"]: r["reason"] for r in csv.DictReader(fh)}
    assert reasons == {source_row(i)["order_id"]: "already_shipped" for i in range(10)}


def test_files_recorded_but_never_uploaded_are_rebuilt_under_their_number(ledger, tmp_path: Path) -> None:
    out = tmp_path / "d"
    first = _write(ledger, out, range(10))
    name = Path(first["files"][0]).name
    entry = read_manifest(_manifest_name(first)).files[0]
    ledger.record_file(name, business_date=DAY, kind="evaluate", mid=MID, rows=entry.rows,
                       sha256=entry.sha256, rows_sha256=entry.rows_sha256)
    ledger.record_rows(name, iter_batch_rows(out / name))  # a crash before the upload
    again = _write(ledger, out, range(10))
    assert again["first_file_number"] == 1 and again["rejected"] == 0  # noqa: PT018
    assert [Path(f).name for f in again["files"]] == [name]
    assert ledger.file_state(name) is None  # discarded: the ship step records it afresh


def test_a_dry_run_touches_no_ledger_record(ledger, tmp_path: Path) -> None:
    out = tmp_path / "d"
    first = _write(ledger, out, range(10))
    name = Path(first["files"][0]).name
    entry = read_manifest(_manifest_name(first)).files[0]
    ledger.record_file(name, business_date=DAY, kind="evaluate", mid=MID, rows=entry.rows,
                       sha256=entry.sha256, rows_sha256=entry.rows_sha256)
    summary = _write(ledger, tmp_path / "dry", range(10), dry_run=True)
    assert summary["dry_run"] is True
    assert ledger.file_state(name) == "written"  # not discarded by the dry run


def test_files_flex_rejected_whole_are_listed_for_resending(ledger, tmp_path: Path) -> None:
    out = tmp_path / "d"
    first = _write(ledger, out, range(10))
    name = Path(first["files"][0]).name
    _ship(ledger, first, name)
    ledger.apply_ack(AckFile(file_type="ack", inbound_file=name, mid=MID, status="REJECTED", row_count=10,
                             accepted=0, rejected=10, received_at_utc=datetime(2026, 11, 24, 7, tzinfo=timezone.utc),
                             file_errors=["authorization token expired"]))
    again = _write(ledger, out, range(10, 12))
    assert again["resend"] == [name]
    assert again["first_file_number"] == 2
