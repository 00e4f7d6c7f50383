"""
The one-task ship (flex_provider.batch.pipeline): rows to files to the ledger to Flex's inbox, each file
recorded before it is sent and marked after; a rerun with late rows ships only those, in new files.
The SFTP leg is a local folder (``tests/unit/batch/exchange.py``); ``tests/faults/test_one_task_ship.py``
runs the pipeline against the sandbox's SFTP server, with crashes.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from flex_provider.batch.pipeline import PipelineError, ShipPipeline
from flex_provider.ledger import FlexLedger
from tests.fixtures.batch import chunks, source_row
from tests.unit.batch.exchange import FolderExchange

DAY = date(2026, 11, 24)


def _pipeline(ledger: FlexLedger, mid: str, exchange: FolderExchange, out: Path) -> ShipPipeline:
    return ShipPipeline(ledger=ledger, hook=exchange, get_token=lambda: "tok", kind="evaluate", mid=mid,
                        business_date=DAY, out_dir=out, rows_per_file=3,
                        now=lambda: datetime(2026, 11, 25, tzinfo=timezone.utc))  # fmt: skip


def test_a_day_ships_each_order_once_and_a_rerun_only_the_late_rows(
    tmp_path: Path, ledger: FlexLedger, mid: str
) -> None:
    out, exchange = tmp_path / "out", FolderExchange(tmp_path / "inbound", ledger)
    first = _pipeline(ledger, mid, exchange, out).run(chunks(7, 4))
    names = [f"evaluate_{mid}_20261124_{n:04d}.json" for n in (1, 2, 3)]
    assert (first["uploaded"], first["rows"], first["written"]) == (names, 7, 7)
    assert exchange.sent == dict.fromkeys(names, "written")  # recorded before any byte left
    assert {ledger.file_state(n) for n in names} == {"uploaded"}
    sent = [json.loads((tmp_path / "inbound" / n).read_text()) for n in names]
    assert {s["authorizationToken"] for s in sent} == {"Bearer tok"}
    assert [r["orderId"] for s in sent for r in s["rows"]] == [f"sub-{i}-2026-11" for i in range(7)]
    assert ledger.order_state(mid, "sub-6-2026-11")["status"] == "SHIPPED"  # the shipped events are in

    # the same day again, with two late rows: only they are written, into file 4
    again = _pipeline(ledger, mid, exchange, out).run([[source_row(i) for i in range(9)]])
    assert (again["uploaded"], again["written"], again["first_file_number"]) == (
        [f"evaluate_{mid}_20261124_0004.json"], 2, 4)  # fmt: skip
    assert again["rejected_by_reason"] == {"already_shipped": 7}
    assert len(exchange.sent) == 4


def test_no_token_means_nothing_is_recorded_or_sent(tmp_path: Path, ledger: FlexLedger, mid: str) -> None:
    out, exchange = tmp_path / "out", FolderExchange(tmp_path / "inbound", ledger)

    def no_token() -> str:
        raise RuntimeError("Flex refused the credentials")

    pipeline = _pipeline(ledger, mid, exchange, out)
    pipeline.get_token = no_token
    with pytest.raises(PipelineError, match="refused"):
        pipeline.run(chunks(5, 5))
    assert exchange.sent == {}
    assert ledger.files_for_day(mid, "evaluate", DAY) == []
