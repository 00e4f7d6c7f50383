"""
What the shipper reads back (flex_provider.batch.manifest): the manifest, a file's ledger rows (sidecar
or the file itself), and line 1 with the bearer token, which goes nowhere else.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from flex_provider.batch.manifest import (
    fill_authorization_token,
    iter_batch_rows,
    ledger_rows_name,
    read_ledger_rows,
    read_manifest,
    render_for_upload,
    write_atomic,
)
from flex_provider.digest import sha256_file
from tests.fixtures.batch import DAY, MID, chunks, make_writer, source_row


def test_manifest_round_trip_names_every_file_and_row(tmp_path: Path) -> None:
    rows = [source_row(i) for i in range(5)] + [source_row(9, currency="usd")]
    summary = make_writer(tmp_path, rows_per_file=2).write([rows])
    manifest = read_manifest(summary["manifest"])
    assert [f.name for f in manifest.files] == [f"evaluate_{MID}_20261124_{n:04d}.json" for n in (1, 2, 3)]
    assert [f.rows for f in manifest.files] == [2, 2, 1]
    assert (manifest.totals.extracted, manifest.totals.written, manifest.totals.rejected) == (6, 5, 1)
    assert manifest.rejects_sha256 == sha256_file(tmp_path / manifest.rejects_file)
    for entry in manifest.files:
        assert entry.sha256 == sha256_file(tmp_path / entry.name)
    assert (manifest.kind, manifest.mid, manifest.business_date) == ("evaluate", MID, DAY)
    with pytest.raises(ValueError, match="validation error"):
        read_manifest(_broken(tmp_path / "manifest_x.json"))


def _broken(path: Path) -> Path:
    path.write_text('{"kind": "evaluate"}')
    return path


def test_ledger_rows_come_from_the_sidecar_only_when_it_is_this_files(tmp_path: Path) -> None:
    expiry = "2026-12-01T00:00:00+02:00"
    rows = [source_row(0), source_row(1, expiry_date_utc=expiry), source_row(2)]
    summary = make_writer(tmp_path, default_expiry=datetime(2026, 12, 15, tzinfo=timezone.utc)).write([rows])
    path = tmp_path / summary["files"][0]
    from_file = list(iter_batch_rows(path))
    assert [r["order_id"] for r in from_file] == ["sub-0-2026-11", "sub-1-2026-11", "sub-2-2026-11"]
    assert [r["expiry_date_utc"] for r in from_file] == [
        datetime(2026, 12, 15, tzinfo=timezone.utc),
        datetime(2026, 11, 30, 22, tzinfo=timezone.utc),  # the row's own, in UTC
        datetime(2026, 12, 15, tzinfo=timezone.utc),
    ]
    assert read_ledger_rows(path) == from_file
    assert read_ledger_rows(path, sha256=sha256_file(path)) == from_file
    assert read_ledger_rows(path, sha256="0" * 64) is None  # another file's sidecar
    path.write_bytes(path.read_bytes().replace(b"sub-2-2026-11", b"sub-7-2026-11"))  # the file changed
    assert read_ledger_rows(path) is None
    (tmp_path / ledger_rows_name(path.name)).unlink()
    assert read_ledger_rows(path) is None


def test_token_goes_into_line_1_only(tmp_path: Path) -> None:
    summary = make_writer(tmp_path).write(chunks(3, 3))
    path = tmp_path / summary["files"][0]
    assert json.loads(path.read_text().split("\n")[0] + "]}")["authorizationToken"] == ""  # none on disk
    line = render_for_upload(path, "abc.def")
    assert json.loads(line + "]}")["authorizationToken"] == "Bearer abc.def"
    assert line == fill_authorization_token(path.read_text().split("\n")[0], "Bearer abc.def")
    uploaded = line + "\n" + path.read_text().split("\n", 1)[1]
    assert len(json.loads(uploaded)["rows"]) == 3
    assert "abc.def" not in path.read_text()
    with pytest.raises(ValueError, match="envelope"):
        fill_authorization_token('{"a":1}', "x")
    with pytest.raises(ValueError, match="authorizationToken"):
        fill_authorization_token('{"a":1,"rows":[', "x")
    assert fill_authorization_token("sequenceNumber,mid\r\n", "x") == "sequenceNumber,mid"  # CSV: no token


def test_write_atomic_leaves_the_whole_file_or_the_old_one(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    write_atomic(target, b"old")
    write_atomic(target, b"new content", sync=False)
    assert target.read_bytes() == b"new content"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]
