"""
``airflow backfill create`` of ``flex_mit_daily`` over three days, run by a real scheduler.

api-server, scheduler (LocalExecutor, parallelism 2), dag-processor and triggerer run as separate
processes on a fresh PostgreSQL metadata database; merchant DB and ledger are another fresh database;
the sandbox is a subprocess. Checks: each day ships once; a second backfill of the same days with
``--reprocess-behavior completed`` ships nothing; a failed day is re-run alone with
``--reprocess-behavior failed``. Every wait is bounded; the processes are stopped at the end (SIGTERM to
their process group, then SIGKILL).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.dags.support import DAGS, FlexWorld, airflow_cluster_env
from tests.fixtures.postgres import fresh_database, pg_url
from tests.fixtures.sandbox import SandboxProcess

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
RUN_TIMEOUT = 360.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Airflow:
    """The Airflow processes of one test, sharing one environment."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home = home
        self.env = env
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def cli(self, *args: str, timeout: float = 180) -> str:
        out = subprocess.run(
            [str(BIN / "airflow"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert out.returncode == 0, f"airflow {' '.join(args)}:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}"
        return out.stdout

    def start(self, name: str, *args: str) -> None:
        log = (self.home / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            [str(BIN / "airflow"), *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append((name, proc))

    def check_alive(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                tail = (self.home / f"{name}.log").read_text(errors="replace")[-3000:]
                raise AssertionError(f"airflow {name} exited with {proc.returncode}:\n{tail}")

    def stop(self) -> None:
        for _name, proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for _name, proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
            else:
                try:  # LocalExecutor workers left behind in the group
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FlexWorld, Airflow, str]]:
    mp = pytest.MonkeyPatch()
    base = tmp_path_factory.mktemp("backfill")
    sandbox = SandboxProcess(base / "sandbox", ["--seed", "13"]).start()
    try:
        with fresh_database("flex_bf_meta") as meta, fresh_database("flex_bf_merchant") as merchant:
            # Days ending the day before yesterday: the scheduler's own run of yesterday (after the
            # backfills, the DAG has automated runs, so the latest finished interval runs) has no declines.
            world = FlexWorld(base, merchant, sandbox, mp, last_day_ago=2)
            world.generate(rows=45, bad_share=0.1, approved_share=0.0)
            dags = base / "dags"
            dags.mkdir()
            (dags / "flex_mit_daily.py").symlink_to(DAGS / "flex_mit_daily.py")
            (dags / "sql").symlink_to(DAGS / "sql")
            home = base / "airflow"
            home.mkdir()
            port = _free_port()
            env = airflow_cluster_env(
                world, home, dags, meta, port, "LocalExecutor",
                AIRFLOW__CORE__PARALLELISM="2",
                AIRFLOW__FLEX__ACK_POKE_INTERVAL="2",
                AIRFLOW__CORE__DEFAULT_TASK_RETRIES="0",  # the day made to fail below fails at once
            )  # fmt: skip
            af = Airflow(home, env)
            af.cli("db", "migrate")
            try:
                af.start("api-server", "api-server", "--port", str(port))
                af.start("scheduler", "scheduler")
                af.start("dag-processor", "dag-processor")
                af.start("triggerer", "triggerer")
                _wait_parsed(af, meta)
                # Backfill runs of a paused DAG stay queued.
                af.cli("dags", "unpause", "flex_mit_daily")
                _assert_unpause_runs_nothing_now(af, meta)
                yield world, af, meta
            finally:
                af.stop()
                world.dispose()
    finally:
        mp.undo()
        sandbox.stop()


def _meta_rows(meta: str, sql: str, **params: object) -> list[dict[str, object]]:
    from sqlalchemy import create_engine, text

    engine = create_engine(pg_url(meta))
    try:
        with engine.connect() as conn:
            return [dict(r) for r in conn.execute(text(sql), params).mappings()]
    finally:
        engine.dispose()


def _wait_parsed(af: Airflow, meta: str, timeout: float = 120, dag_id: str = "flex_mit_daily") -> None:
    """Wait until the dag-processor has serialized ``dag_id`` into the metadata DB."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        af.check_alive()
        try:
            if _meta_rows(meta, "SELECT dag_id FROM serialized_dag WHERE dag_id = :d", d=dag_id):
                return
        except Exception as exc:  # noqa: BLE001 - tables appear with the migration; keep polling
            last_error = exc
        time.sleep(1)
    raise AssertionError(f"{dag_id} was not parsed in time ({last_error})")


def _assert_unpause_runs_nothing_now(af: Airflow, meta: str) -> None:
    """
    The DAG never ran: unpausing it must not run its latest finished day at once (a real shipment the
    user did not ask for). The scheduler creates a run once ``next_dagrun_create_after`` has passed.
    """
    rows = _meta_rows(
        meta, "SELECT is_paused, next_dagrun_create_after FROM dag WHERE dag_id = 'flex_mit_daily'"
    )
    assert len(rows) == 1, rows
    assert rows[0]["is_paused"] is False, rows
    now = datetime.now(timezone.utc)
    assert rows[0]["next_dagrun_create_after"] > now, rows  # the next 02:00 UTC boundary, not the last one
    assert not _meta_rows(meta, "SELECT run_id FROM dag_run WHERE dag_id = 'flex_mit_daily'")


def _backfill_runs(meta: str) -> list[dict[str, object]]:
    return _meta_rows(
        meta,
        "SELECT run_id, state, data_interval_start, backfill_id FROM dag_run "
        "WHERE dag_id = 'flex_mit_daily' AND backfill_id IS NOT NULL ORDER BY data_interval_start, id",
    )


def _wait_backfill_done(
    af: Airflow, meta: str, backfill_count: int, timeout: float = RUN_TIMEOUT
) -> list[dict]:
    """Wait until ``backfill_count`` backfills are complete; returns the runs of the last one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        af.check_alive()
        done = _meta_rows(meta, "SELECT id, completed_at FROM backfill ORDER BY id")
        if len(done) >= backfill_count and all(d["completed_at"] for d in done):
            last = done[-1]["id"]
            return [r for r in _backfill_runs(meta) if r["backfill_id"] == last]
        time.sleep(2)
    tail = (af.home / "scheduler.log").read_text(errors="replace")[-3000:]
    raise AssertionError(
        f"backfill {backfill_count} did not finish in {timeout}s: {_backfill_runs(meta)}\n{tail}"
    )


def _why_not_success(af: Airflow, meta: str, runs: list[dict]) -> str:
    """The runs, their task instances not in success/skipped and the tail of those tasks' logs."""
    bad = [r["run_id"] for r in runs if r["state"] != "success"]
    if not bad:
        return ""
    tis = _meta_rows(
        meta,
        "SELECT run_id, task_id, map_index, state, try_number FROM task_instance WHERE dag_id = 'flex_mit_daily' "
        "AND run_id = ANY(:runs) AND coalesce(state, 'none') NOT IN ('success', 'skipped') ORDER BY run_id, task_id",
        runs=bad,
    )
    parts = [f"runs: {runs}", f"task instances: {tis}"]
    for ti in tis:
        for log in sorted((af.home / "logs").glob(f"dag_id=flex_mit_daily/run_id={ti['run_id']}/task_id={ti['task_id']}/**/*.log")):
            parts.append(f"--- {log.relative_to(af.home)}\n{log.read_text(errors='replace')[-4000:]}")
    parts.append("--- scheduler.log\n" + (af.home / "scheduler.log").read_text(errors="replace")[-3000:])
    return "\n".join(parts)


def test_backfill_three_days_ships_each_once_and_reruns_ship_nothing(
    setup: tuple[FlexWorld, Airflow, str],
) -> None:
    world, af, meta = setup
    first, last = world.days[0], world.days[-1]
    window = ["--from-date", first.isoformat(), "--to-date", f"{last.isoformat()}T03:00:00+00:00"]
    af.cli("backfill", "create", "--dag-id", "flex_mit_daily", *window, "--max-active-runs", "1")
    runs = _wait_backfill_done(af, meta, 1)
    assert [r["data_interval_start"].date() for r in runs] == world.days, runs
    assert {r["state"] for r in runs} == {"success"}, _why_not_success(af, meta, runs)
    files = world.ledger_files()
    assert {f["business_date"] for f in files} == set(world.days)
    assert all(f["state"] == "acknowledged" for f in files)
    pickups = world.upload_counts()
    assert sorted(pickups) == sorted(f["name"] for f in files)
    assert set(pickups.values()) == {1}  # each day's files went to Flex once
    for day in world.days:
        rows = world.orders(day, declined_only=True)
        assert all(r["flex_sent_at"] is not None or r["flex_reject_reason"] for r in rows), day

    # The same days again, completed runs included: nothing is shipped a second time.
    af.cli(
        "backfill", "create", "--dag-id", "flex_mit_daily", *window, "--max-active-runs", "1",
        "--reprocess-behavior", "completed",
    )  # fmt: skip
    runs = _wait_backfill_done(af, meta, 2)
    assert len(runs) == 3
    assert {r["state"] for r in runs} == {"success"}, _why_not_success(af, meta, runs)
    assert world.ledger_files() == files
    assert world.upload_counts() == pickups

    # A day fails for real: declines of the day before the window arrive while Flex's API answers 5xx to
    # everything, so that day's ship task cannot get a token and its run fails with the file written but
    # never uploaded. Re-run with --reprocess-behavior failed: only that day runs again, rebuilds the file
    # and ships its rows once; the other days stay as they are.
    failed_day = first - timedelta(days=1)
    late = _copy_declines(world, first, failed_day, 3)
    day_window = ["--from-date", failed_day.isoformat(), "--to-date", f"{failed_day.isoformat()}T03:00:00+00:00"]
    world.sandbox.admin("POST", "/faults", {"error_ratio_5xx": 1.0}).raise_for_status()
    try:
        af.cli("backfill", "create", "--dag-id", "flex_mit_daily", *day_window, "--max-active-runs", "1")
        runs = _wait_backfill_done(af, meta, 3)
    finally:
        world.sandbox.admin("POST", "/faults", {"error_ratio_5xx": 0.0}).raise_for_status()
    assert [(r["data_interval_start"].date(), r["state"]) for r in runs] == [(failed_day, "failed")], runs
    stuck = [f for f in world.ledger_files() if f["business_date"] == failed_day]
    # Never uploaded: the ship step asks for its token before it records a file, so the failed day's file
    # is at most recorded ("written"), never uploaded, and Flex got nothing.
    assert all(f["state"] == "written" for f in stuck), stuck
    assert world.upload_counts() == pickups

    wider = ["--from-date", failed_day.isoformat(), "--to-date", f"{last.isoformat()}T03:00:00+00:00"]
    af.cli(
        "backfill", "create", "--dag-id", "flex_mit_daily", *wider, "--max-active-runs", "1",
        "--reprocess-behavior", "failed",
    )  # fmt: skip
    runs = _wait_backfill_done(af, meta, 4)
    assert [(r["data_interval_start"].date(), r["state"]) for r in runs] == [(failed_day, "success")], runs
    after = world.ledger_files()
    new_files = [f for f in after if f["business_date"] == failed_day]
    assert len(new_files) == 1, new_files
    assert new_files[0]["rows"] == len(late)
    assert new_files[0]["state"] == "acknowledged"
    assert [f for f in after if f["business_date"] != failed_day] == files  # the others untouched
    assert world.upload_counts() == {**pickups, new_files[0]["name"]: 1}  # the new rows went to Flex once
    shipped = {r["order_id"] for r in world.orders(failed_day) if r["flex_sent_at"] is not None}
    assert shipped == set(late)


def _copy_declines(world: FlexWorld, source_day: date, day: date, n: int) -> list[str]:
    """Copies of ``n`` shipped declines of ``source_day`` moved to ``day``, under new order ids."""
    from sqlalchemy import func, select

    from flex_provider.merchant.schema import orders

    with world.engine.begin() as conn:
        next_id = conn.execute(select(func.max(orders.c.id))).scalar_one() + 1  # the generator sets ids
        shipped = [
            dict(r)
            for r in conn.execute(
                select(orders).where(orders.c.flex_sent_at.is_not(None)).order_by(orders.c.id)
            ).mappings()
            if r["attempted_at"].astimezone(timezone.utc).date() == source_day
        ][:n]
        assert len(shipped) == n, f"day {source_day} has fewer than {n} shipped declines"
        for i, row in enumerate(shipped):
            row["id"] = next_id + i
            row["order_id"] = f"{row['order_id']}-{day:%Y%m%d}"
            row["attempted_at"] -= source_day - day
            row["status"] = "DECLINED"
            row.update({c: None for c in row if c.startswith("flex_")})
        conn.execute(orders.insert(), shipped)
    return [r["order_id"] for r in shipped]
