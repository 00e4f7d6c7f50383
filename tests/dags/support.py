"""
Shared set-up for the DAG and batch-operator tests: a merchant world on PostgreSQL next to a sandbox.

``FlexWorld`` owns a fresh PostgreSQL database (merchant tables and ledger in one database, as a merchant
may run it) on the machine's server, a sandbox subprocess, a local batch folder, and the ``AIRFLOW_CONN_*``
connections and ``AIRFLOW__FLEX__*`` config the sample DAGs' operators read. Helpers wait (bounded) for the sandbox's
outbound files and read the merchant DB back for the checks.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.postgres import fresh_database, pg_conn_json, pg_url
from tests.fixtures.sandbox import SandboxProcess

__all__ = ["DAGS", "SQL", "FlexWorld", "airflow_cluster_env", "flex_world", "fresh_database", "pg_url"]  # what the DAG-level tests import

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
SQL = DAGS / "sql"
EXPIRY_DAYS = 21
#: Sandbox seconds that take every order of the test days past its rescue window (expiry = day + 22 d).
PAST_WINDOW_SECONDS = (EXPIRY_DAYS + 4) * 86400


# -- Airflow metadata DB (for dag.test()) ---------------------------------------------------------

_MIGRATED = False


def migrate_airflow_db() -> None:
    """``airflow db migrate`` once per test process on the session's AIRFLOW_HOME (SQLite in tmp)."""
    global _MIGRATED
    if _MIGRATED:
        return
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    out = subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    _MIGRATED = True


def run_dag(dag_id: str, *, logical_date: datetime | None = None, conf: dict[str, Any] | None = None) -> Any:
    """Run one DAG of the repo's dags/ in this process with ``dag.test()``; returns the DagRun."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS / f"{dag_id}.py"))
    assert not bag.import_errors, bag.import_errors
    dag = bag.get_dag(dag_id)
    return dag.test(logical_date=logical_date, run_conf=conf or {})


def task_states(dr: Any) -> dict[str, str]:
    """``task_id[map_index]`` -> state of a finished run."""
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = dr.get_task_instances(session=session)
        return {
            (ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"): str(ti.state) for ti in tis
        }


# -- the world ------------------------------------------------------------------------------------


class FlexWorld:
    """A merchant (PostgreSQL), its sandbox and batch folder, and the environment the DAGs read."""

    def __init__(
        self,
        base: Path,
        db_name: str,
        sandbox: SandboxProcess,
        mp: pytest.MonkeyPatch,
        *,
        last_day_ago: int = 1,
    ) -> None:
        from sqlalchemy import create_engine

        self.base = base
        self.db_name = db_name
        self.url = pg_url(db_name)
        self.engine = create_engine(self.url)
        self.sandbox = sandbox
        self.batch_dir = base / "batches"
        self.mid = sandbox.info["mid"]
        conns = sandbox.info["airflow_connections"]
        self.env = {
            "AIRFLOW_CONN_FLEX_DEFAULT": conns["flex_default"],
            "AIRFLOW_CONN_FLEX_SFTP_DEFAULT": conns["flex_sftp_default"],
            "AIRFLOW_CONN_FLEX_MERCHANT_DB": pg_conn_json(db_name),
            "AIRFLOW_CONN_FLEX_LEDGER_DB": pg_conn_json(db_name),
            # Airflow's own config mechanism for the provider's [flex] section (and [core] retries).
            "AIRFLOW__FLEX__BATCH_DIR": str(self.batch_dir),
            "AIRFLOW__FLEX__ACK_POKE_INTERVAL": "1",
            "AIRFLOW__FLEX__ACK_TIMEOUT": "120",
            "AIRFLOW__FLEX__EXPIRY_DAYS": str(EXPIRY_DAYS),
            "AIRFLOW__CORE__DEFAULT_TASK_RETRIES": "0",
        }
        for key, value in self.env.items():
            mp.setenv(key, value)
        today = sandbox.now().date()
        #: Three business days ending ``last_day_ago`` days before today (sandbox clock), oldest first.
        self.days = [today - timedelta(days=d + last_day_ago - 1) for d in (3, 2, 1)]

    # -- data -------------------------------------------------------------------------------
    def generate(self, rows: int = 90, *, bad_share: float = 0.1, approved_share: float = 0.2) -> Any:
        from flex_provider.merchant.generate import generate

        return generate(
            self.engine,
            rows=rows,
            days=len(self.days),
            end_date=self.days[-1],
            bad_share=bad_share,
            approved_share=approved_share,
            seed=7,
        )

    def orders(self, day: date | None = None, *, declined_only: bool = False) -> list[dict[str, Any]]:
        """Merchant order rows (all columns), optionally of one business day, by id."""
        from sqlalchemy import text

        sql = "SELECT * FROM orders WHERE TRUE"
        params: dict[str, Any] = {}
        if day is not None:
            start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
            sql += " AND attempted_at >= :s AND attempted_at < :e"
            params = {"s": start, "e": start + timedelta(days=1)}
        if declined_only:
            sql += " AND response_status = 'DECLINED'"
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(text(sql + " ORDER BY id"), params).mappings()]

    def scalar(self, sql: str, **params: Any) -> Any:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(text(sql), params).mappings()]

    def ledger(self) -> Any:
        from flex_provider.batch.ledger import FlexLedger

        return FlexLedger.from_url(self.url)

    def ledger_files(self, kind: str = "evaluate", day: date | None = None) -> list[dict[str, Any]]:
        from sqlalchemy import text

        sql = "SELECT * FROM flex_batch_files WHERE kind = :k"
        params: dict[str, Any] = {"k": kind}
        if day is not None:
            sql += " AND business_date = :d"
            params["d"] = day
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(text(sql + " ORDER BY name"), params).mappings()]

    def upload_counts(self) -> dict[str, int]:
        """Ledger file name -> how often the sandbox archived (picked up) it; >1 means shipped twice."""
        archive = Path(self.sandbox.info["sftp_root"]) / "archive"
        counts: dict[str, int] = {}
        for path in archive.glob("*"):
            base = path.name
            if base[-2:-1] == "." and base[-1].isdigit():  # "<name>.1": a second pick-up of <name>
                base = base.rsplit(".", 1)[0]
            counts[base] = counts.get(base, 0) + 1
        return counts

    def sandbox_orders(self) -> list[dict[str, Any]]:
        r = self.sandbox.admin("GET", "/orders")
        r.raise_for_status()
        body = r.json()
        return body if isinstance(body, list) else body.get("orders", body.get("items", []))

    def wait_outbound(self, prefix: str, *, at_least: int = 1, timeout: float = 60.0) -> list[str]:
        """Names in the sandbox outbound folder starting with ``prefix`` (bounded wait for ``at_least``)."""
        folder = Path(self.sandbox.info["sftp_root"]) / "outbound"
        deadline = time.monotonic() + timeout
        while True:
            names = sorted(p.name for p in folder.glob(f"{prefix}*") if not p.name.endswith(".part"))
            if len(names) >= at_least or time.monotonic() > deadline:
                return names
            time.sleep(0.3)

    def settle_past_window(self) -> None:
        """Move the sandbox clock past every rescue window and wait until its result files are out."""
        self.sandbox.advance(PAST_WINDOW_SECONDS)
        self.sandbox.admin("POST", "/settle")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = self.sandbox.admin("GET", "/sftp/status").json()
            if not status.get("pending_results"):
                break
            time.sleep(0.3)
        self.sandbox.admin("POST", "/sftp/process")

    def dispose(self) -> None:
        self.engine.dispose()


def check_every_decline_accounted(world: FlexWorld, day: date) -> dict[str, int]:
    """Every declined order of ``day`` was shipped (flex_sent_at) or carries a reject reason; counts."""
    rows = world.orders(day, declined_only=True)
    shipped = [r for r in rows if r["flex_sent_at"] is not None]
    rejected = [r for r in rows if r["flex_sent_at"] is None and r["flex_reject_reason"]]
    lost = [r["order_id"] for r in rows if r["flex_sent_at"] is None and not r["flex_reject_reason"]]
    assert not lost, f"{day}: declines neither shipped nor rejected: {lost}"
    assert rows, f"no declines generated for {day}"
    return {"declines": len(rows), "shipped": len(shipped), "rejected": len(rejected)}


@contextmanager
def flex_world(
    base: Path, db_prefix: str, *, seed: int, rows: int, bad_share: float, approved_share: float
) -> Iterator[FlexWorld]:
    """A sandbox subprocess and a fresh merchant database with generated orders, torn down on exit."""
    mp = pytest.MonkeyPatch()
    sandbox = SandboxProcess(base / "sandbox", ["--seed", str(seed)]).start()
    try:
        with fresh_database(db_prefix) as db:
            world = FlexWorld(base, db, sandbox, mp)
            world.generate(rows=rows, bad_share=bad_share, approved_share=approved_share)
            try:
                yield world
            finally:
                world.dispose()
    finally:
        mp.undo()
        sandbox.stop()


def airflow_cluster_env(
    world: FlexWorld, home: Path, dags: Path, meta_db: str, port: int, executor: str, **extra: str
) -> dict[str, str]:
    """
    The environment every Airflow process of a test cluster shares (api-server on 127.0.0.1:``port``,
    metadata on the PostgreSQL database ``meta_db``, fast heartbeats); ``extra`` adds or overrides keys.
    """
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        **world.env,
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__CORE__EXECUTOR": executor,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": pg_url(meta_db),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": "flex-cluster-test-secret",
        "AIRFLOW__API__SECRET_KEY": "flex-cluster-test-secret",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        **extra,
    }
    env.pop("AIRFLOW__CORE__SQL_ALCHEMY_CONN", None)
    return env
