"""
Fault 10: a seeded randomized soak. 20 business days on one merchant world; each day gets a random mix
of the faults above on a random schedule; every step is retried the way Airflow retries a task; after
each day the invariants are checked (final states included). Prints how many faults were injected and
survived.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from flex_provider.webhooks.app import WebhookSettings, create_app
from tests.faults.harness import PROJECT_SQL
from tests.faults.invariants import check_invariants
from tests.faults.test_crash_points import kill_at

RUNS = int(os.environ.get("FLEX_SOAK_RUNS", "20"))
SEED = int(os.environ.get("FLEX_SOAK_SEED", "20261125"))
FAULTS = (
    "sftp_cut",
    "api_429_burst",
    "api_5xx_30pct",
    "api_drop_after_commit",
    "crash_after_upload",
    "crash_before_mark",
    "malformed_outbound",
    "slow_results",
    "webhook_dup_reorder",
    "bad_rows",
)
# Every fault is in by default; FLEX_SOAK_FAULTS=a,b narrows the set (e.g. to reproduce one seed).
if os.environ.get("FLEX_SOAK_FAULTS"):
    FAULTS = tuple(os.environ["FLEX_SOAK_FAULTS"].split(","))


def _retry(step: Callable[[], Any], sb: Any, tries: int = 5) -> tuple[Any, int]:
    """Run a step like an Airflow task with retries; faults are cleared before the last tries."""
    failures = 0
    for attempt in range(tries):
        try:
            return step(), failures
        except Exception:  # noqa: BLE001 - any task failure; the invariants judge the outcome
            failures += 1
            if attempt >= 1:
                sb.admin("POST", "/faults/reset")
                sb.admin("POST", "/sftp/faults/reset")
    raise AssertionError("step never succeeded")


def test_randomized_soak(make_world, webhook_server, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(SEED)
    world = make_world()
    sb = world.sandbox
    key = sb.info["webhook_subscriber_key"]
    srv = webhook_server(create_app(WebhookSettings(subscriber_keys=[key], db_url=world.ledger_url)))
    sb.admin("POST", "/webhooks/target", {"url": f"{srv.base_url}/webhooks"})
    injected: Counter[str] = Counter()
    task_failures = 0
    started = time.monotonic()
    totals: Counter[str] = Counter()
    crashes: Counter[str] = Counter()
    try:
        for run in range(RUNS):
            chosen = rng.sample(FAULTS, rng.randint(1, 3))
            injected.update(chosen)
            day = world.business_day()
            bad = rng.sample(["missing_amount", "negative_amount", "pan_in_description", "duplicate_order"], 2) \
                if "bad_rows" in chosen else []  # fmt: skip
            world.add_declines(day, rng.randint(4, 9), bad=bad)
            if "webhook_dup_reorder" in chosen:
                sb.admin("POST", "/webhooks/faults", {"duplicate_ratio": 0.5, "reorder": True})
            summary = world.extract(day)

            # ship, with the faults on a random schedule
            if "sftp_cut" in chosen:
                sb.admin("POST", "/sftp/faults", {"cut_session_after_bytes": rng.randint(300, 2500)})
            if "api_429_burst" in chosen:
                sb.admin("POST", "/faults", {"rate_limit_next": rng.randint(1, 3), "retry_after": 1})
            if "api_5xx_30pct" in chosen:
                sb.admin("POST", "/faults", {"error_ratio_5xx": 0.3})
            if "api_drop_after_commit" in chosen:
                sb.admin("POST", "/faults", {"drop_response_after_commit_next": rng.randint(1, 2)})
            # Real crashes: the worker process running ship -> record -> project is SIGKILLed between the
            # upload and its ledger commit, or after the ship task before the record/projection steps;
            # Airflow's retry then runs the steps again in a fresh process (here: this one).
            env = {**world.env, "MANIFEST": summary["manifest"], "PROJECT_SQL": str(PROJECT_SQL)}
            for fault, point in (("crash_after_upload", "after_upload_before_ledger"),
                                 ("crash_before_mark", "after_ship_before_record")):  # fmt: skip
                if fault in chosen:
                    ended = kill_at(point, env, tmp_path / f"crash-{run}-{point}.marker")
                    task_failures += 1
                    crashes[ended.split(":")[0]] += 1
            _, f = _retry(lambda: world.ship(summary), sb)  # noqa: B023
            task_failures += f
            _, f = _retry(lambda: world.mark(summary), sb)  # noqa: B023
            task_failures += f
            sb.admin("POST", "/sftp/faults/reset")
            if summary["files"]:
                _, f = _retry(lambda: world.process_acks(day), sb)  # noqa: B023
                task_failures += f
            check_invariants(world)

            # outcomes: malformed files and growing result files on the way
            if "malformed_outbound" in chosen:
                name = f"result_{world.mid}_{sb.now():%Y%m%d%H%M%S}_97{run:02d}.json"
                (world.sftp_root / "outbound" / name).write_bytes(
                    b'{"fileType":"result","rows":[\n{"orderId":'
                )
                world.expected_quarantine.add(name)
            if "slow_results" in chosen:
                sb.admin("POST", "/sftp/faults", {"slow_results": 0.3})
            world.sandbox.advance(25 * 86400)
            if "slow_results" in chosen:
                time.sleep(0.4)  # read while a result file is still growing
                summary_out = world.process_results()
                world.expected_quarantine |= set(summary_out["quarantined"])
                sb.admin("POST", "/sftp/faults/reset")
            world.wait_results_flushed()
            if "api_5xx_30pct" in chosen:
                sb.admin("POST", "/faults", {"error_ratio_5xx": 0.3})
            _, f = _retry(world.process_results, sb)
            task_failures += f
            _, f = _retry(world.reconcile, sb)
            task_failures += f
            sb.admin("POST", "/faults/reset")
            sb.admin("POST", "/webhooks/faults/reset")
            counts = check_invariants(world, final=True)
            totals = Counter(counts)
    finally:
        sb.admin("POST", "/webhooks/target", {"url": None})
        for path in ("/faults/reset", "/sftp/faults/reset", "/webhooks/faults/reset"):
            sb.admin("POST", path)
    n = sum(injected.values())
    print(
        f"\nSOAK seed={SEED}: {RUNS} runs, {n} faults injected and survived, {task_failures} task failures "
        f"retried, invariants held after every run ({time.monotonic() - started:.0f}s)\n"
        f"  by fault: {dict(sorted(injected.items()))}; crashes: {dict(crashes)}\n"
        f"  end state: {dict(sorted(totals.items()))}"
    )
    assert n >= RUNS
