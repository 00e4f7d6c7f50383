"""
The one-task ship (``ShipBatchOperator(sql=...)``: extract, check, write, record, upload and mark in one
overlapped pipeline) keeps every guarantee of the two-task path, against the fault sandbox.

* A day with bad rows: every good row shipped once, every bad row rejected with its reason, the later
  steps (record_shipment, mark_pending, the acks) read what it left; a rerun ships nothing twice.
* SIGKILL after a file is recorded but before it is uploaded, and after it landed but before the ledger
  marked it: the rerun (Airflow's retry of the same task) converges, nothing lost or doubled.
"""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import date, datetime, timedelta, timezone
from datetime import time as dtime
from pathlib import Path
from typing import Any

import pytest

from tests.faults.harness import EXPIRY_DAYS, EXTRACT_SQL, ROOT, World, clear_token_cache, run_child
from tests.faults.invariants import check_invariants


def _op_kwargs(world: World, day: date) -> dict[str, Any]:
    start = datetime.combine(day, dtime(), tzinfo=timezone.utc)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return {
        "sql": str(EXTRACT_SQL),
        "parameters": {
            "window_start": start.strftime(fmt),
            "window_end": (start + timedelta(days=1)).strftime(fmt),
        },
        "business_date": day.isoformat(),
        "out_dir": str(world.out_dir(day)),
        "expiry_days": EXPIRY_DAYS,
    }


def ship_one_task(world: World, day: date) -> dict[str, Any]:
    """The one-task ship step, as the daily DAG runs it; its summary stands in for the extract's."""
    from flex_provider.operators.batch import ShipBatchOperator

    clear_token_cache()
    summary = ShipBatchOperator(task_id="ship", **_op_kwargs(world, day)).execute({})
    world.extracts[day.isoformat()] = summary
    return summary


def test_one_task_ship_ships_each_row_once_and_a_rerun_ships_nothing(make_world: Any) -> None:
    world = make_world()
    day = world.business_day()
    world.add_declines(day, 2501, bad=["negative_amount", "pan_in_description", "missing_currency"])
    summary = ship_one_task(world, day)
    assert len(summary["files"]) == 2  # 2000 + the rest
    assert summary["uploaded"] == summary["files"]
    assert summary["rows"] == summary["written"] == 2501
    assert summary["rejected"] == 3
    world.mark(summary)
    world.process_acks(day)
    counts = check_invariants(world)
    assert counts["shipped"] == 2501

    again = ship_one_task(world, day)  # a rerun: every order is in the ledger already
    assert again["uploaded"] == []
    assert again["rows"] == 0
    assert again["files"] == []
    assert again["written"] == 0
    world.extracts[day.isoformat()] = summary  # the invariants count the first run's files
    world.finish()
    counts = check_invariants(world, final=True)
    assert counts["shipped"] == 2501
    assert counts["resent_rows"] == 0


CHILD = r"""
import json, os, sys, time
sys.path.insert(0, {root!r})
point, marker = os.environ["CRASH_AT"], os.environ["CRASH_MARKER"]

def hold(*a, **k):
    with open(marker, "w") as fh:
        fh.write(point)
    time.sleep(120)

if point == "after_record_before_upload":
    from flex_provider.hooks.sftp_upload import ChannelUploader
    ChannelUploader.submit = hold
if point == "after_upload_before_mark":
    from flex_provider.ledger import FlexLedger
    FlexLedger.mark_uploaded_many = hold
from flex_provider.operators.batch import ShipBatchOperator
ShipBatchOperator(task_id="ship", **json.loads(os.environ["SHIP_KWARGS"])).execute({{}})
print("CHILD DONE")
"""


@pytest.mark.parametrize("point", ["after_record_before_upload", "after_upload_before_mark"])
def test_sigkill_inside_the_one_task_ship_then_rerun_converges(
    make_world: Any, tmp_path: Path, point: str
) -> None:
    world = make_world()
    day = world.business_day()
    world.add_declines(day, 30, bad=["zero_amount", "duplicate_order"])
    marker = tmp_path / f"{point}.marker"
    env = {
        **world.env,
        "SHIP_KWARGS": json.dumps(_op_kwargs(world, day)),
        "CRASH_AT": point,
        "CRASH_MARKER": str(marker),
    }
    child = run_child(CHILD.format(root=str(ROOT)), env)
    deadline = time.monotonic() + 90
    while not marker.exists():
        assert child.poll() is None, child.stdout.read().decode()[-2000:]
        assert time.monotonic() < deadline, "crash point never reached"
        time.sleep(0.02)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(10)
    from flex_provider.batch.ledger import FlexLedger

    ledger = FlexLedger.from_url(world.ledger_url)
    try:
        files = ledger.files_for_day(world.mid, "evaluate", day)
    finally:
        ledger.engine.dispose()
    # the kill left the file recorded, never marked: no order of it counts as shipped to Flex yet
    assert [f["state"] for f in files] == ["written"]
    landed = (world.sftp_root / "inbound" / files[0]["name"]).exists() or any(
        p.name.startswith(files[0]["name"]) for p in (world.sftp_root / "archive").iterdir()
    )
    assert landed == (point == "after_upload_before_mark")

    summary = ship_one_task(world, day)  # Airflow's retry of the task
    assert summary["files"] == [files[0]["name"]]
    assert summary["written"] == 31
    assert summary["rejected"] == 2
    world.mark(summary)
    world.process_acks(day)
    assert check_invariants(world)["shipped"] == 31
    world.finish()
    counts = check_invariants(world, final=True)
    # a file that had landed goes again at most as the same bytes (same keys): Flex makes no second order
    assert counts["resent_rows"] in ((0, 31) if point == "after_upload_before_mark" else (0,))
