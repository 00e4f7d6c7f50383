"""The batch writer's own rules (flex_provider.batch.writer): Flex's file limits, and each order shipped once."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from flex_provider.batch.manifest import iter_batch_rows
from tests.fixtures.batch import MID, make_writer, source_row


def _rejects(out: Path) -> list[tuple[str, str, str]]:
    with (out / f"rejects_evaluate_{MID}_20261124.csv").open(newline="") as fh:
        return [(r["source_row"], r["order_id"], r["reason"]) for r in csv.DictReader(fh)]


def test_rows_per_file_above_2000_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="rows_per_file"):
        make_writer(tmp_path, rows_per_file=2001)
    with pytest.raises(ValueError, match="rows_per_file"):
        make_writer(tmp_path, rows_per_file=0)
    with pytest.raises(ValueError, match="CSV"):
        make_writer(tmp_path, file_format="csv")


def test_an_order_is_written_once_a_run_and_never_again_after_the_ledger_shipped_it(tmp_path: Path) -> None:
    bad_first = source_row(1, currency="usd")  # a bad row does not take the order id
    asked: list[list[str]] = []

    def shipped(ids: list[str]) -> set[str]:
        asked.append(sorted(ids))
        return {"sub-3-2026-11"}

    chunks = [
        [source_row(0), bad_first, source_row(1), source_row(0)],
        [source_row(1), source_row(3), source_row(2), source_row(2)],
    ]
    summary = make_writer(tmp_path, already_shipped=shipped).write(chunks)
    written = [r["order_id"] for name in summary["files"] for r in iter_batch_rows(tmp_path / name)]
    assert written == ["sub-0-2026-11", "sub-1-2026-11", "sub-2-2026-11"]
    assert _rejects(tmp_path) == [
        ("2", "sub-1-2026-11", "invalid_currency"),
        ("4", "sub-0-2026-11", "duplicate_order"),
        ("5", "sub-1-2026-11", "duplicate_order"),  # written in the first chunk
        ("6", "sub-3-2026-11", "already_shipped"),
        ("8", "sub-2-2026-11", "duplicate_order"),
    ]
    # the ledger is asked only about orders this run has not written yet, once each
    assert asked == [["sub-0-2026-11", "sub-1-2026-11"], ["sub-2-2026-11", "sub-3-2026-11"]]
    assert (summary["extracted"], summary["written"], summary["rejected"]) == (8, 3, 5)
