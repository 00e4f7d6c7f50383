"""
Fault 2: the worker is SIGKILLed between upload and ledger commit, between ledger commit and the
merchant-DB update, and inside the merchant-DB transaction; the rerun converges (PostgreSQL ledger and
merchant DB).

The ship, record and projection steps run in a child process. The operators have no crash-point hook, so
the child wraps the exact boundary (``FlexLedger.mark_uploaded_many``; the end of the ship task; the
projection's UPDATE inside the merchant transaction) with "write a marker file, then wait"; the parent
SIGKILLs it as soon as the marker appears, so the process dies at precisely that point with nothing
after it committed.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.faults.harness import PROJECT_SQL, ROOT, pg_conn, run_child
from tests.faults.invariants import check_invariants

CHILD = r"""
import os, sys, time
sys.path.insert(0, {root!r})
point, marker = os.environ["CRASH_AT"], os.environ["CRASH_MARKER"]

def hold():
    with open(marker, "w") as fh:
        fh.write(point)
    time.sleep(120)

if point == "after_upload_before_ledger":
    from flex_provider.batch.ledger import FlexLedger
    FlexLedger.mark_uploaded = lambda self, *a, **k: hold()  # the upload landed, its mark never commits
    FlexLedger.mark_uploaded_many = lambda self, *a, **k: hold()
if point == "inside_merchant_transaction":
    import flex_provider.merchant.db as db
    real = db.run_script
    def update_then_hold(*a, **k):
        n = real(*a, **k)
        hold()
        return n
    db.run_script = update_then_hold
from flex_provider.operators.batch import FlexProjectOrdersOperator, RecordShipmentOperator, ShipBatchOperator
ShipBatchOperator(task_id="ship", manifest=os.environ["MANIFEST"]).execute({{}})
if point == "after_ship_before_record":
    hold()
RecordShipmentOperator(task_id="record", manifest=os.environ["MANIFEST"]).execute({{}})
if point == "after_ledger_before_merchant":
    hold()
FlexProjectOrdersOperator(task_id="mark", sql=os.environ["PROJECT_SQL"]).execute({{}})
print("CHILD DONE")
"""


def kill_at(point: str, env: dict[str, str], marker: Path, timeout: float = 90.0) -> str:
    """
    Run ship -> record -> project in a child and SIGKILL it at ``point``. Returns ``killed``, or
    ``failed: ...`` when the child died of a fault before it got there (a task failure Airflow retries).
    """
    child = run_child(CHILD.format(root=str(ROOT)), {**env, "CRASH_AT": point, "CRASH_MARKER": str(marker)})
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if child.poll() is not None:
            return f"failed: {child.stdout.read().decode()[-500:]}"
        if time.monotonic() > deadline:
            child.kill()
            raise AssertionError("crash point never reached")
        time.sleep(0.02)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(10)
    assert child.returncode == -signal.SIGKILL
    marker.unlink()
    return "killed"


@pytest.mark.parametrize(
    "point", ["after_upload_before_ledger", "after_ledger_before_merchant", "inside_merchant_transaction"]
)
def test_sigkill_at_a_boundary_then_rerun_converges(
    make_world, webhook_pg_factory, tmp_path: Path, point: str
) -> None:
    db = webhook_pg_factory(f"faults_crash_{point[:12]}")
    name = db.url.rsplit("/", 1)[1]
    world = make_world(
        merchant_url=db.url, merchant_conn=pg_conn(name), ledger_url=db.url, ledger_conn=pg_conn(name)
    )
    day = world.business_day()
    world.add_declines(day, 30, bad=["negative_amount", "duplicate_order"])
    summary = world.extract(day)
    marker = tmp_path / f"{point}.marker"
    env = {**world.env, "MANIFEST": summary["manifest"], "PROJECT_SQL": str(PROJECT_SQL)}
    ended = kill_at(point, env, marker)
    assert ended == "killed", ended

    # what the kill left behind
    inbound_or_archive = [p.name for d in ("inbound", "archive") for p in (world.sftp_root / d).iterdir()]
    rows = world.merchant_rows()
    if point == "after_upload_before_ledger":
        assert any(n.startswith(summary["files"][0]) for n in inbound_or_archive)  # Flex has the file
        # Flex takes it (inbound -> archive) before the retry: a retry that finds it still in inbound, the
        # same size, rightly sends nothing, and which of the two happens was a race of this test.
        archive = world.sftp_root / "archive"
        deadline = time.monotonic() + 30
        while not any(p.name.startswith(summary["files"][0]) for p in archive.iterdir()):
            assert time.monotonic() < deadline, "the sandbox took no file from inbound within 30 s"
            time.sleep(0.1)
    assert all(r["status"] == "DECLINED" for r in rows), "the merchant DB committed part of a killed step"

    # the rerun (Airflow's retry of the same tasks)
    world.ship(summary)
    world.mark(summary)
    world.process_acks(day)
    counts = check_invariants(world)
    assert counts["shipped"] == 31
    world.finish()
    counts = check_invariants(world, final=True)
    print(f"\n{point}: {counts}")
    if point == "after_upload_before_ledger":
        # at-least-once transfer: the file went again, same rows and keys; Flex created no second order
        assert counts["resent_rows"] == 31
    else:
        assert counts["resent_rows"] == 0
