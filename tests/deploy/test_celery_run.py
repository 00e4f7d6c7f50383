"""
flex_mit_daily_fanout (mapped ship tasks) on a CeleryExecutor cluster: the docker-compose topology as processes on 127.0.0.1.

A fresh PostgreSQL metadata DB (also the Celery result backend), Redis as the broker (a key prefix of
this run's own, so parallel runs do not meet), api-server, scheduler, dag-processor, triggerer and two
``airflow celery worker`` processes (``worker-a``, ``worker-b``, concurrency 2 each), next to a sandbox
and a merchant DB with one business day of 6,600 declines (4 evaluate files of at most 2,000 rows, one
mapped ship task per file). The day is triggered (``airflow dags trigger`` with that day's logical date)
on the unpaused DAG, and the scheduler runs it on the workers. (Unpausing alone runs nothing: the DAG never
ran, so its timetable starts with the interval under way, see ``flex_provider.timetables``.)

What identifies the worker of a task instance, measured here: ``task_instance.hostname`` is the same
for both workers (one machine), and ``task_instance.pid`` is the task's own forked process, different
for every task, so neither tells the workers apart. The Celery task id does: the scheduler stores it
as ``task_instance.external_executor_id``, and each worker logs ``[<celery id>] Executing workload``
with the task instance's id. The spread is forced, not luck: the sandbox answers API calls after 3 s
(only the ship tasks call the API in this DAG), so a ship task holds its worker slot at least 3 s,
each worker holds at most 2 (concurrency 2, prefetch 1, late acks), and a worker slot is free again at
most ~1 s after its task ended (``min_heartbeat_interval`` 1 s), so 4 ship tasks cannot all go to one.

The ack sensor is deferrable: its trigger runs in the triggerer (its log is the task log's
``.trigger.<triggerer job id>.log``), the task instance is seen ``deferred``, and the workers run the
task twice (defer, then resume). The sensor expects the ack of every file the run uploaded, so one run
applies all four whatever the timing, and the cluster run and the single-process reference
(``dag.test()`` of the same seeds and day) must leave equal merchant DBs, ledgers, summaries and sandbox
pick-ups.

Every wait is bounded (the whole cluster part by ``DEADLINE``); all processes are stopped in a
``finally`` (SIGTERM to each process group, then SIGKILL).
"""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.dags.support import (
    DAGS,
    FlexWorld,
    airflow_cluster_env,
    fresh_database,
    migrate_airflow_db,
    pg_url,
    run_dag,
)
from tests.dags.test_backfill import Airflow, _free_port, _wait_parsed
from tests.deploy.compose import healthcheck_command, load
from tests.fixtures.sandbox import SandboxProcess
from tests.servers import REDIS_URL, require_redis

pytestmark = pytest.mark.slow

DAG_ID = "flex_mit_daily_fanout"  # the example with mapped ship tasks (four groups)
SANDBOX_SEED = 21
DATA_SEED = 7
#: 2% are broken on purpose (rejected): ~6,480 valid rows -> 4 evaluate files of at most 2,000 rows.
DECLINES = 6600
WORKERS = ("worker-a", "worker-b")
CONCURRENCY = 2
#: Sandbox API latency: makes each ship task (the DAG's only API caller) hold its worker slot >= 3 s.
SHIP_API_LATENCY_MS = 3000
#: Bound of the whole cluster part (set-up and the run); the processes are stopped after it.
DEADLINE = 300.0
#: DAG settings of both worlds: one mapped ship task per batch file, a short ack poke, no retries.
RUN_ENV = {"AIRFLOW__FLEX__ACK_POKE_INTERVAL": "2", "AIRFLOW__CORE__DEFAULT_TASK_RETRIES": "0"}

_EXECUTING = re.compile(
    r"\[(?P<celery_id>[0-9a-f-]{36})\] Executing workload in Celery: .*?"
    r"ti=TaskInstanceDTO\(id=UUID\('(?P<ti_id>[0-9a-f-]{36})'\)"
)
_SUCCEEDED = re.compile(r"Task execute_workload\[(?P<celery_id>[0-9a-f-]{36})\] succeeded")


def latest_business_day(now: datetime) -> date:
    """The day the scheduler runs on unpausing: the start of the latest complete ``0 2 * * *`` interval."""
    end = now.replace(hour=2, minute=0, second=0, microsecond=0)
    if now < end:
        end -= timedelta(days=1)
    return (end - timedelta(days=1)).date()


def _seconds_to_interval_boundary(now: datetime) -> float:
    boundary = now.replace(hour=2, minute=0, second=0, microsecond=0)
    if boundary <= now:
        boundary += timedelta(days=1)
    return (boundary - now).total_seconds()


def _generate(world: FlexWorld, day: date) -> None:
    from flex_provider.merchant.generate import generate

    generate(
        world.engine, rows=DECLINES, days=1, end_date=day, bad_share=0.02, approved_share=0.0, seed=DATA_SEED
    )


def _waiting_files(world: FlexWorld) -> list[str]:
    """Files uploaded whose ack the ledger has not applied yet."""
    return [f["name"] for f in world.ledger_files() if f["state"] == "uploaded"]


def end_state(world: FlexWorld) -> dict[str, Any]:
    """What a run leaves behind, without timestamps and ids that differ by nature (Flex's order ids)."""
    return {
        "orders": world.rows(
            "SELECT order_id, status, response_status, flex_business_date, flex_batch_file, "
            "flex_reject_reason, flex_sent_at IS NOT NULL AS sent, flex_expiry_at, "
            "flex_order_id IS NOT NULL AS has_flex_order_id, flex_status, flex_confirmation_id, "
            "refunded_amount_cents FROM orders ORDER BY id"
        ),
        "files": world.rows(
            "SELECT name, business_date, kind, mid, rows, rows_sha256, state, ack_status, ack_error "
            "FROM flex_batch_files ORDER BY name"
        ),
        "ledger_rows": world.rows(
            "SELECT order_id, file_name, sequence_number, idempotency_key, expiry_date_utc, status, error, "
            "confirmation_id, amount, currency, order_session_key IS NOT NULL AS has_session_key "
            "FROM flex_batch_rows ORDER BY order_id"
        ),
        "outbound": world.rows("SELECT name, kind, status FROM flex_outbound_files ORDER BY name"),
        "summary": world.rows(
            "SELECT business_date, currency, declines_sent, rejected, pending, rescued_count, "
            "rescued_amount_cents, expired_count, cancelled_count, refunded_count, recovery_rate "
            "FROM flex_recovery_summary ORDER BY business_date, currency"
        ),
        "pickups": world.upload_counts(),
        "flex_orders": len(world.sandbox_orders()),
    }


def _first_differences(a: list[Any], b: list[Any], n: int = 3) -> list[tuple[Any, Any]]:
    return [(x, y) for x, y in zip(a, b, strict=False) if x != y][:n]


# -- the reference: the same day in one process ------------------------------------------------------


@pytest.fixture(scope="module")
def day() -> date:
    """The business day both worlds run; never one the scheduler's clock is about to leave behind."""
    now = datetime.now(timezone.utc)
    wait = _seconds_to_interval_boundary(now)
    if wait < 120:  # the DAG is parsed ~15 s after this: do not straddle 02:00 UTC
        print(f"waiting {wait:.0f} s for 02:00 UTC so the scheduled interval cannot change during set-up")
        time.sleep(wait + 2)
        now = datetime.now(timezone.utc)
    return latest_business_day(now)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, day: date) -> Iterator[dict[str, Any]]:
    """End state of a ``dag.test()`` run of the day (every ack applied: the sensor expects them all)."""
    migrate_airflow_db()
    mp = pytest.MonkeyPatch()
    base = tmp_path_factory.mktemp("celery-reference")
    sandbox = SandboxProcess(base / "sandbox", ["--seed", str(SANDBOX_SEED)]).start()
    try:
        with fresh_database("flex_cel_ref") as db:
            world = FlexWorld(base, db, sandbox, mp)
            for key, value in RUN_ENV.items():
                mp.setenv(key, value)
            _generate(world, day)
            try:
                dr = run_dag(DAG_ID, conf={"business_date": day.isoformat()})
                assert str(dr.state) == "success"
                assert not _waiting_files(world)
                yield end_state(world)
            finally:
                world.dispose()
    finally:
        mp.undo()
        sandbox.stop()


# -- the cluster -------------------------------------------------------------------------------------


@dataclass
class ClusterRun:
    """Facts collected from the cluster's scheduled run of the day."""

    day: date
    run: dict[str, Any]
    tis: list[dict[str, Any]]
    #: ``task_id[map_index]`` -> the states seen while polling, in order, without repeats.
    states_seen: dict[str, list[str]]
    #: Worker name -> ``(celery task id, task instance id)`` of each workload it executed.
    executed: dict[str, list[tuple[str, str]]]
    #: Worker name -> celery task ids it reported as succeeded.
    succeeded: dict[str, set[str]]
    worker_pids: dict[str, int]
    #: File name -> text of the wait_for_acks trigger logs.
    trigger_logs: dict[str, str]
    triggerer_jobs: set[int]
    #: Files still waiting for their ack after the run (the ledger's ``uploaded`` ones).
    waiting_after: list[str]
    #: Compose service (worker: per worker) -> (exit code, output) of its healthcheck run here.
    healthchecks: dict[str, tuple[int | None, str]]
    end_state: dict[str, Any] = field(default_factory=dict)

    def ti(self, task_id: str) -> dict[str, Any]:
        """The run's one (unmapped) task instance of ``task_id``."""
        (found,) = (ti for ti in self.tis if ti["task_id"] == task_id)
        return found

    def worker_of(self, ti: dict[str, Any]) -> str:
        """The one worker that ran the task instance's latest execution (by its Celery task id)."""
        pair = (ti["external_executor_id"], str(ti["id"]))
        owners = [w for w, done in self.executed.items() if pair in done]
        assert len(owners) == 1, f"{ti['task_id']}[{ti['map_index']}] {pair}: executed by {owners}"
        return owners[0]


def _delete_redis_keys(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


class _Meta:
    """Reads of the cluster's metadata DB over one engine (polled several times a second)."""

    def __init__(self, db: str) -> None:
        from sqlalchemy import create_engine

        self.engine = create_engine(pg_url(db))

    def rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(text(sql), params).mappings()]

    def dispose(self) -> None:
        self.engine.dispose()


def _wait_workers_ready(af: Airflow, deadline: float) -> None:
    """Both workers consume from the broker (Celery logs ``celery@<name> ready.``)."""
    while True:
        af.check_alive()
        logs = {n: (af.home / f"{n}.log").read_text(errors="replace") for n in WORKERS}
        if all(f"celery@{n} ready." in text for n, text in logs.items()):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"Celery workers not ready in time: {[t[-1500:] for t in logs.values()]}")
        time.sleep(0.5)


def _watch_run(
    af: Airflow, meta: _Meta, deadline: float, sandbox: SandboxProcess
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """
    Poll the DAG's one run (recording each task state change) until it finishes.

    Flex's batch processing is paused until the ack sensor has deferred (then resumed a few seconds
    later): the sensor looks once before deferring, and the sandbox acks within a second, so without
    the pause the acks would be there already and nothing would wait in the triggerer.
    """
    seen: dict[str, list[str]] = {}
    acks_held = True
    while True:
        af.check_alive()
        runs = meta.rows("SELECT * FROM dag_run WHERE dag_id = :d ORDER BY id", d=DAG_ID)
        assert len(runs) <= 1, [(r["run_id"], r["run_type"]) for r in runs]
        for ti in meta.rows(
            "SELECT task_id, map_index, state FROM task_instance WHERE dag_id = :d", d=DAG_ID
        ):
            key = ti["task_id"] if ti["map_index"] < 0 else f"{ti['task_id']}[{ti['map_index']}]"
            states = seen.setdefault(key, [])
            if not states or states[-1] != str(ti["state"]):
                states.append(str(ti["state"]))
        if acks_held and "deferred" in seen.get("wait_for_acks", ()):
            time.sleep(3)  # the deferring attempt's end reaches the scheduler before the trigger fires
            sandbox.admin("POST", "/sftp/faults", {"paused": False}).raise_for_status()
            acks_held = False
        if runs and runs[0]["state"] in ("success", "failed"):
            return runs[0], seen
        if time.monotonic() > deadline:
            tail = (af.home / "scheduler.log").read_text(errors="replace")[-2500:]
            raise AssertionError(f"the run did not finish in time: {runs} {seen}\n{tail}")
        time.sleep(0.25)


def _worker_logs(home: Path) -> tuple[dict[str, list[tuple[str, str]]], dict[str, set[str]]]:
    executed: dict[str, list[tuple[str, str]]] = {}
    succeeded: dict[str, set[str]] = {}
    for name in WORKERS:
        text = (home / f"{name}.log").read_text(errors="replace")
        executed[name] = [(m["celery_id"], m["ti_id"]) for m in _EXECUTING.finditer(text)]
        succeeded[name] = {m["celery_id"] for m in _SUCCEEDED.finditer(text)}
    return executed, succeeded


def _cluster_env(
    world: FlexWorld, home: Path, dags: Path, meta_db: str, ports: tuple[int, int], prefix: str
) -> dict[str, str]:
    """One environment for every Airflow process of the cluster (as the compose file shares one)."""
    port, health_port = ports
    return airflow_cluster_env(
        world, home, dags, meta_db, port, "CeleryExecutor",
        **RUN_ENV,
        # Room to queue all 4 ship tasks at once (the executor counts a task until its Celery task ends).
        AIRFLOW__CORE__PARALLELISM="8",
        AIRFLOW__CELERY__BROKER_URL=REDIS_URL,
        AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX=prefix,
        AIRFLOW__CELERY__RESULT_BACKEND="db+" + pg_url(meta_db).replace("+psycopg2", ""),
        AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK="True",
        AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST="127.0.0.1",
        AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT=str(health_port),
        # A task's supervisor notices its process ended at its next heartbeat at the latest (default
        # 5 s, during which the worker slot stays taken): 1 s keeps slots free and the test short.
        AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL="1",
    )  # fmt: skip


def _run_compose_healthchecks(
    af: Airflow, api_port: int, health_port: int, sandbox: SandboxProcess
) -> dict[str, tuple[int | None, str]]:
    """Run docker-compose.yaml's healthchecks against the local processes, in parallel."""
    services = load()["services"]
    sandbox_address = sandbox.api_url.removeprefix("http://").split("/", 1)[0]
    checks: dict[str, tuple[str, dict[str, str], dict[str, str]]] = {
        "airflow-apiserver": ("airflow-apiserver", {"localhost:8080": f"127.0.0.1:{api_port}"}, {}),
        "airflow-scheduler": ("airflow-scheduler", {"localhost:8974": f"127.0.0.1:{health_port}"}, {}),
        "airflow-dag-processor": ("airflow-dag-processor", {}, {}),
        "airflow-triggerer": ("airflow-triggerer", {}, {}),
        "flex-sandbox": (
            "flex-sandbox",
            {
                "/sandbox/sandbox.json": str(sandbox.data_dir / "sandbox.json"),
                "127.0.0.1:8765": sandbox_address,
            },
            {},
        ),
        # The worker pings celery@$HOSTNAME: each container's hostname is its worker's name.
        **{f"airflow-worker@{w}": ("airflow-worker", {}, {"HOSTNAME": w}) for w in WORKERS},
    }
    procs = {
        key: subprocess.Popen(
            healthcheck_command(services[service], replace),
            env={**af.env, **extra_env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for key, (service, replace, extra_env) in checks.items()
    }
    results: dict[str, tuple[int | None, str]] = {}
    for key, proc in procs.items():
        try:
            out, _ = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        results[key] = (proc.returncode, out[-1500:])
    return results


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, day: date) -> Iterator[ClusterRun]:
    """Start the cluster, let the scheduler run ``day``, collect what happened, stop everything."""
    pytest.importorskip("airflow.providers.celery", reason="the celery extra is not installed")
    require_redis(REDIS_URL)
    deadline = time.monotonic() + DEADLINE
    base = tmp_path_factory.mktemp("celery")
    prefix = f"flex-test-{uuid.uuid4().hex[:12]}:"
    sandbox = SandboxProcess(base / "sandbox", ["--seed", str(SANDBOX_SEED)]).start()
    try:
        with fresh_database("flex_cel_meta") as meta_db, fresh_database("flex_cel_merchant") as merchant:
            mp = pytest.MonkeyPatch()
            try:
                world = FlexWorld(base, merchant, sandbox, mp)
            finally:
                mp.undo()  # the Airflow processes get world.env explicitly; this process stays clean
            _generate(world, day)
            sandbox.admin("POST", "/faults", {"latency_ms": SHIP_API_LATENCY_MS}).raise_for_status()
            dags = base / "dags"
            dags.mkdir()
            (dags / f"{DAG_ID}.py").symlink_to(DAGS / f"{DAG_ID}.py")
            (dags / "sql").symlink_to(DAGS / "sql")
            home = base / "airflow"
            home.mkdir()
            port, health_port = _free_port(), _free_port()
            af = Airflow(home, _cluster_env(world, home, dags, meta_db, (port, health_port), prefix))
            meta = _Meta(meta_db)
            try:
                af.cli("db", "migrate")
                af.start("api-server", "api-server", "--port", str(port))
                af.start("scheduler", "scheduler")
                af.start("dag-processor", "dag-processor")
                af.start("triggerer", "triggerer")
                for name in WORKERS:
                    af.start(
                        name, "celery", "worker", "--celery-hostname", name,
                        "--concurrency", str(CONCURRENCY), "--skip-serve-logs",
                    )  # fmt: skip
                _wait_parsed(af, meta_db, timeout=max(1.0, deadline - time.monotonic()), dag_id=DAG_ID)
                _wait_workers_ready(af, deadline)
                sandbox.admin("POST", "/sftp/faults", {"paused": True}).raise_for_status()
                af.cli("dags", "unpause", DAG_ID)
                logical = datetime.combine(day + timedelta(days=1), datetime.min.time(), timezone.utc)
                af.cli("dags", "trigger", DAG_ID, "--logical-date", logical.replace(hour=2).isoformat())
                run, seen = _watch_run(af, meta, deadline, sandbox)
                tis = meta.rows(
                    "SELECT * FROM task_instance WHERE dag_id = :d AND run_id = :r ORDER BY start_date",
                    d=DAG_ID,
                    r=run["run_id"],
                )
                executed, succeeded = _worker_logs(home)
                trigger_logs = {
                    p.name: p.read_text(errors="replace")
                    for p in (home / "logs").rglob("*.trigger.*.log")
                    if "task_id=wait_for_acks" in str(p)
                }
                jobs = meta.rows("SELECT id FROM job WHERE job_type = 'TriggererJob'")
                healthchecks = _run_compose_healthchecks(af, port, health_port, sandbox)
                result = ClusterRun(
                    day=day,
                    run=run,
                    tis=tis,
                    states_seen=seen,
                    executed=executed,
                    succeeded=succeeded,
                    worker_pids={name: proc.pid for name, proc in af.procs if name in WORKERS},
                    trigger_logs=trigger_logs,
                    triggerer_jobs={j["id"] for j in jobs},
                    waiting_after=_waiting_files(world),
                    healthchecks=healthchecks,
                    end_state=end_state(world),
                )
            finally:
                af.stop()
                meta.dispose()
                world.dispose()
                _delete_redis_keys(prefix)
            _print_measurements(result)
            yield result
    finally:
        sandbox.stop()


def _print_measurements(run: ClusterRun) -> None:
    """What ran where (shown with ``pytest -s``)."""
    print(
        f"\nscheduled run of {run.day}: {run.run['run_id']} {run.run['state']}; worker pids {run.worker_pids}"
    )
    for ti in run.tis:
        name = ti["task_id"] if ti["map_index"] < 0 else f"{ti['task_id']}[{ti['map_index']}]"
        owners = [
            w for w, done in run.executed.items() if (ti["external_executor_id"], str(ti["id"])) in done
        ]
        print(
            f"  {name:<18} {ti['state']:<8} {ti['start_date']:%H:%M:%S.%f}-{ti['end_date']:%H:%M:%S.%f} "
            f"hostname={ti['hostname']} pid={ti['pid']} worker={owners}"
        )


# -- the checks --------------------------------------------------------------------------------------


def test_scheduled_run_succeeds_on_celery(cluster: ClusterRun) -> None:
    """The day's run, scheduled by the scheduler, every task executed by one of the Celery workers."""
    run = cluster.run
    assert run["run_type"] == "manual"  # triggered: the only run (unpausing added no scheduled one)
    assert run["data_interval_start"].date() == cluster.day, "the clock passed 02:00 UTC during set-up"
    assert run["state"] == "success", cluster.states_seen
    assert {ti["state"] for ti in cluster.tis} == {"success"}, cluster.states_seen
    ship = sorted(ti["map_index"] for ti in cluster.tis if ti["task_id"] == "ship")
    assert ship == [0, 1, 2, 3], "expected one mapped ship task per batch file (4 files)"
    for ti in cluster.tis:
        cluster.worker_of(ti)  # each latest execution is in exactly one worker's log
    # The ack sensor waited for the ack of every uploaded file: none is left unacknowledged.
    assert cluster.waiting_after == []


def test_ship_tasks_ran_on_both_workers_at_once(cluster: ClusterRun) -> None:
    """The mapped ship tasks spread over both workers, and ran on them at the same time."""
    ship = [ti for ti in cluster.tis if ti["task_id"] == "ship"]
    by_worker: dict[str, list[dict[str, Any]]] = {}
    for ti in ship:
        by_worker.setdefault(cluster.worker_of(ti), []).append(ti)
    assert set(by_worker) == set(WORKERS), {w: [t["map_index"] for t in tis] for w, tis in by_worker.items()}
    a, b = (by_worker[w] for w in WORKERS)
    overlap = any(x["start_date"] < y["end_date"] and y["start_date"] < x["end_date"] for x in a for y in b)
    assert overlap, "no moment with ship tasks running on both workers"
    # Each ship task held its slot at least as long as the sandbox's API latency.
    assert all(ti["duration"] >= SHIP_API_LATENCY_MS / 1000 for ti in ship), [ti["duration"] for ti in ship]


def test_ack_sensor_waited_in_the_triggerer(cluster: ClusterRun) -> None:
    """wait_for_acks deferred: seen ``deferred``, its trigger ran in the triggerer, workers ran it twice."""
    assert "deferred" in cluster.states_seen["wait_for_acks"], cluster.states_seen["wait_for_acks"]
    assert len(cluster.trigger_logs) == 1, sorted(cluster.trigger_logs)
    ((name, text),) = cluster.trigger_logs.items()
    job_id = int(name.rsplit(".trigger.", 1)[1].split(".")[0])
    assert job_id in cluster.triggerer_jobs  # the log file is named after the triggerer's job
    assert "Trigger fired event" in text
    assert re.search(r"Found 4 new outbound file\(s\)", text), text[-2000:]
    sensor = cluster.ti("wait_for_acks")
    executions = [
        (worker, celery_id)
        for worker, done in cluster.executed.items()
        for celery_id, ti_id in done
        if ti_id == str(sensor["id"])
    ]
    assert len(executions) == 2, executions  # defer, then resume in execute_complete
    assert len({celery_id for _, celery_id in executions}) == 2
    # The deferring execution ended (its Celery task succeeded): no worker slot was held while it waited.
    deferring = next(c for _, c in executions if c != sensor["external_executor_id"])
    assert any(deferring in done for done in cluster.succeeded.values())


def test_compose_healthchecks_pass_against_the_cluster(cluster: ClusterRun) -> None:
    """docker-compose.yaml's healthcheck commands are real: they pass against the running components."""
    failed = {key: result for key, result in cluster.healthchecks.items() if result[0] != 0}
    assert not failed, failed
    assert set(cluster.healthchecks) == {
        "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer", "flex-sandbox",
        *(f"airflow-worker@{w}" for w in WORKERS),
    }  # fmt: skip


def test_end_state_equals_single_process_run(cluster: ClusterRun, reference: dict[str, Any]) -> None:
    """Merchant orders, ledger, outbound files, summary and Flex pick-ups equal those of ``dag.test()``."""
    got, want = cluster.end_state, reference
    assert len(want["files"]) == 4
    assert {f["state"] for f in want["files"]} == {"acknowledged"}
    assert got["files"] == want["files"]
    assert got["outbound"] == want["outbound"]
    assert got["summary"] == want["summary"]
    assert len(got["orders"]) == len(want["orders"])
    assert got["orders"] == want["orders"], _first_differences(got["orders"], want["orders"])
    assert got["ledger_rows"] == want["ledger_rows"], _first_differences(
        got["ledger_rows"], want["ledger_rows"]
    )
    assert got["pickups"] == want["pickups"]
    assert set(got["pickups"].values()) == {1}  # every file went to Flex exactly once
    shipped = sum(o["sent"] for o in got["orders"])
    assert shipped == sum(f["rows"] for f in got["files"]) == got["flex_orders"] == want["flex_orders"]
    assert all(o["has_flex_order_id"] for o in got["orders"] if o["sent"])  # every ack applied
