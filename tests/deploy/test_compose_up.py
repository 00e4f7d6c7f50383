"""
``docker compose up`` for real: docker-compose.yaml started on a Docker engine, healthy, running the DAG.

Opt-in (``make compose-test``, which sets ``FLEX_COMPOSE_TEST=1``): it installs and starts a Docker engine
(scripts/compose/engine.sh: Debian's docker.io, ``dockerd --bridge=none --iptables=false``) and builds
stand-in images from Debian packages (scripts/compose/images.sh), because no container registry is
reachable here. Then, in order:

1. ``docker-compose build`` of the repository's Dockerfile on the Airflow stand-in (the provider from the
   lock file's dependency set), and ``up -d`` of the merchant's compose file plus a host-network
   override (tests/deploy/compose_stack.py): every service reaches ``healthy`` and ``airflow-init``
   exits 0 within ``UP_TIMEOUT``; every socket a container listens on is on 127.0.0.1;
2. unpausing ``flex_mit_daily`` through the api-server's REST API makes the scheduler run the latest
   demo day; the run succeeds, every task instance executed in the Celery worker container (its log has
   the workload of each task instance id), the batch files went through the sandbox container's
   inbound folder (picked up into its archive, each once, all acknowledged in the ledger);
3. a webhook signed with the sandbox's subscriber key (signed here, by the documented scheme) is
   stored in the ledger DB by the api-server's ``/flex/webhooks``; a wrong key gets 401 and no row;
4. ``docker-compose down -v`` leaves no container, no volume and no listener of the project.

Timings (build, up-to-healthy, DAG run, down) are printed (``pytest -s``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import formatdate
from typing import Any

import pytest

from tests.deploy.compose import REPO, load
from tests.deploy.compose_stack import (
    STANDIN_IMAGES,
    ComposeProject,
    Ports,
    container_listeners,
    docker,
    env_file,
    override,
    wait_until_healthy,
)
from tests.deploy.test_celery_run import latest_business_day
from tests.deploy.test_compose_file import ONE_SHOT, TEST_ENV

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("FLEX_COMPOSE_TEST") != "1",
        reason="starts a Docker engine and builds images (minutes): run `make compose-test`",
    ),
]

DAG_ID = "flex_mit_daily"
#: Bounds of the phases (the first build of the stand-in images is the slow part, ~2-3 min here).
BUILD_TIMEOUT = 1500.0
#: Up to healthy took 74-360 s here, the longer figures at a load average of 8-12 on 2 cores.
UP_TIMEOUT = 720.0
RUN_TIMEOUT = 600.0
#: Demo and DAG settings of the run (.env): a small day, a short ack poke, no retries that hide a failure.
SETTINGS = {
    "FLEX_DEMO_ROWS": "600",
    "AIRFLOW__FLEX__ACK_POKE_INTERVAL": "3",
    "AIRFLOW__CORE__DEFAULT_TASK_RETRIES": "0",
    "AIRFLOW_WORKER_CONCURRENCY": "2",
}
_EXECUTING = re.compile(
    r"Executing workload in Celery: .*?ti=TaskInstanceDTO\(id=UUID\('(?P<ti>[0-9a-f-]{36})'\)"
)


@dataclass
class Stack:
    """The started project and what the test saw of it."""

    project: ComposeProject
    ports: Ports
    timings: dict[str, float] = field(default_factory=dict)
    healthy: dict[str, dict[str, Any]] = field(default_factory=dict)
    down_done: bool = False
    token: str | None = None

    def request(self, method: str, path: str, **kw: Any) -> Any:
        """One REST API call as the admin user (a token from ``POST /auth/token`` first)."""
        import httpx

        if self.token is None:
            r = httpx.post(
                f"http://127.0.0.1:{self.ports.api}/auth/token",
                json={"username": "admin", "password": TEST_ENV["AIRFLOW_ADMIN_PASSWORD"]},
                timeout=30,
            )
            assert r.status_code == 201, r.text
            self.token = r.json()["access_token"]
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.request(
            method, f"http://127.0.0.1:{self.ports.api}{path}", headers=headers, timeout=30, **kw
        )

    def api(self, method: str, path: str, **kw: Any) -> Any:
        r = self.request(method, path, **kw)
        assert r.status_code == 200, (method, path, r.status_code, r.text)
        return r.json()

    def ledger(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        """Rows from the bundled PostgreSQL's merchant DB (the ledger and webhook events live there)."""
        import psycopg2
        import psycopg2.extras

        conn = psycopg2.connect(
            host="127.0.0.1", port=self.ports.postgres, user="airflow",
            password=TEST_ENV["POSTGRES_PASSWORD"], dbname="merchant", connect_timeout=5,
        )  # fmt: skip
        try:
            with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                cur.execute(sql, params)
                return [dict(r) for r in cur.fetchall()]
        finally:
            conn.close()

    def down(self) -> None:
        started = time.monotonic()
        self.project.run("down", "-v", "--remove-orphans", "--timeout", "30", timeout=300)
        self.timings["down"] = time.monotonic() - started
        self.down_done = True


def _script(name: str) -> None:
    out = subprocess.run(
        ["bash", str(REPO / "scripts" / "compose" / name)],
        capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False,
    )  # fmt: skip
    print(out.stdout.rstrip())
    assert out.returncode == 0, f"{name} failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    started = time.monotonic()
    _script("engine.sh")
    _script("images.sh")
    ports = Ports()
    project = ComposeProject(
        f"flexcompose{uuid.uuid4().hex[:8]}",
        tmp_path_factory.mktemp("compose"),
        env_file(TEST_ENV, ports, {**SETTINGS, "FLEX_DAGS_DIR": str(REPO / "dags")}),
        override(ports, TEST_ENV["POSTGRES_PASSWORD"]),
    )
    s = Stack(project, ports)
    try:
        project.run("build", timeout=BUILD_TIMEOUT)
        docker("image", "prune", "-f")  # the previous build's image, once the provider's code changed
        s.timings["build"] = time.monotonic() - started
        print(f"\ncompose: images ready in {s.timings['build']:.0f} s; project {project.name}, ports {ports}")
        started = time.monotonic()
        project.run("up", "-d", timeout=UP_TIMEOUT)
        s.healthy = wait_until_healthy(project, ONE_SHOT, timeout=UP_TIMEOUT)
        s.timings["up_to_healthy"] = time.monotonic() - started
        print(f"compose: up -d to all healthy in {s.timings['up_to_healthy']:.0f} s")
        for name, state in sorted(s.healthy.items()):
            print(f"  {name:<22} {state['status']:<8} health={state['health']} exit={state['exit_code']}")
        yield s
    finally:
        if not s.down_done:
            project.run("down", "-v", "--remove-orphans", "--timeout", "30", timeout=300, check=False)
        print("compose timings (s): " + ", ".join(f"{k} {v:.0f}" for k, v in s.timings.items()))


@pytest.fixture(scope="module")
def dag_run(stack: Stack) -> dict[str, Any]:
    """Unpause the DAG over REST; the scheduler's own run of the latest demo day, when it has finished."""
    started = time.monotonic()
    deadline = started + RUN_TIMEOUT
    while True:  # the dag-processor has parsed the sample DAGs once the api-server knows the DAG
        r = stack.request("GET", f"/api/v2/dags/{DAG_ID}")
        if r.status_code == 200:
            break
        assert r.status_code == 404, r.text
        assert time.monotonic() < deadline, f"{DAG_ID} never appeared in the REST API"
        time.sleep(2)
    day = latest_business_day(datetime.now(timezone.utc))
    assert stack.api("PATCH", f"/api/v2/dags/{DAG_ID}", json={"is_paused": False})["is_paused"] is False
    # Unpausing a DAG that never ran starts nothing (flex_provider.timetables): trigger the day, as a user
    # does from the UI; the scheduler runs it on the Celery worker.
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), timezone.utc).replace(hour=2)
    stack.api("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", json={"logical_date": end.isoformat()})
    while True:
        runs = stack.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns")["dag_runs"]
        if runs and runs[0]["state"] in ("success", "failed"):
            break
        assert time.monotonic() < deadline, f"the run did not finish in {RUN_TIMEOUT:.0f} s: {runs}"
        time.sleep(2)
    (run,) = runs
    tis = stack.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances")[
        "task_instances"
    ]
    stack.timings["dag_run"] = time.monotonic() - started
    print(
        f"\ncompose: {run['dag_run_id']} ({run['run_type']}) {run['state']} in {stack.timings['dag_run']:.0f} s"
    )
    for ti in tis:
        name = ti["task_id"] if ti["map_index"] < 0 else f"{ti['task_id']}[{ti['map_index']}]"
        print(f"  {name:<18} {ti['state']:<8} hostname={ti['hostname']} try={ti['try_number']}")
    return {"run": run, "tis": tis, "day": day}


def test_every_service_healthy_and_init_completed(stack: Stack) -> None:
    """Each long-running service of the file reports ``healthy``; airflow-init exited 0 after its work."""
    services = set(load()["services"])
    assert set(stack.healthy) == services
    for name, state in stack.healthy.items():
        if name in ONE_SHOT:
            assert (state["status"], state["exit_code"]) == ("exited", 0), name
        else:
            assert (state["status"], state["health"]) == ("running", "healthy"), name
    init_log = stack.project.run("logs", "--no-color", "airflow-init").stdout
    assert "airflow-init: done" in init_log
    for conn_id in ("flex_merchant_db", "flex_ledger_db", "flex_default", "flex_sftp_default"):
        assert f"airflow-init: stored connection {conn_id}" in init_log, conn_id


def test_containers_listen_on_loopback_only(stack: Stack) -> None:
    """Host networking: every socket a container listens on is on 127.0.0.1 (or ::1), on the run's ports."""
    listeners = container_listeners(stack.project)
    for name, found in sorted(listeners.items()):
        print(f"  {name:<22} listens on {sorted(found)}")
    assert set(listeners) == {n for n in load()["services"] if n not in ONE_SHOT}
    everything = set().union(*listeners.values())
    assert all(address in ("127.0.0.1", "::1") for address, _ in everything), everything
    assert listeners["postgres"] >= {("127.0.0.1", stack.ports.postgres)}
    assert listeners["redis"] == {("127.0.0.1", stack.ports.redis)}
    assert listeners["airflow-apiserver"] >= {("127.0.0.1", stack.ports.api)}
    assert listeners["airflow-scheduler"] >= {("127.0.0.1", stack.ports.scheduler_health)}
    assert listeners["flex-sandbox"] >= {
        ("127.0.0.1", stack.ports.sandbox_api),
        ("127.0.0.1", stack.ports.sandbox_sftp),
    }


def test_triggered_run_succeeds_on_the_celery_worker(stack: Stack, dag_run: dict[str, Any]) -> None:
    """The triggered run of the latest day succeeds; the worker container executed every task instance."""
    run, tis = dag_run["run"], dag_run["tis"]
    assert run["run_type"] == "manual"  # the only run: unpausing added no scheduled one
    assert run["data_interval_start"][:10] == dag_run["day"].isoformat()
    assert run["state"] == "success", [(t["task_id"], t["state"]) for t in tis]
    assert tis
    assert {t["state"] for t in tis} == {"success"}
    worker_log = stack.project.run("logs", "--no-color", "airflow-worker").stdout
    executed = {m["ti"] for m in _EXECUTING.finditer(worker_log)}
    missing = [t["task_id"] for t in tis if t["id"] not in executed]
    assert not missing, f"not executed by the airflow-worker container: {missing}"
    print(f"compose: airflow-worker executed all {len(tis)} task instances ({len(executed)} workloads)")


def test_batch_files_went_through_the_sandbox_inbound(stack: Stack, dag_run: dict[str, Any]) -> None:
    """The run's files reached the sandbox container's inbound folder: picked up (archived) once each, acked."""
    listing = stack.project.exec(
        "flex-sandbox", "python", "-c",
        "import json, pathlib; root = pathlib.Path(json.load(open('/sandbox/sandbox.json'))['sftp_root']); "
        "print(json.dumps({d: sorted(p.name for p in (root / d).iterdir() if p.is_file()) "
        "for d in ('inbound', 'archive')}))",
    )  # fmt: skip
    folders = json.loads(listing.strip().splitlines()[-1])
    files = stack.ledger(
        "SELECT name, rows, state FROM flex_batch_files WHERE business_date = %(d)s ORDER BY name",
        d=dag_run["day"],
    )
    print(f"compose: sandbox inbound -> archive: {folders['archive']}; inbound now {folders['inbound']}")
    print(f"compose: ledger files of {dag_run['day']}: {files}")
    assert files, "the run shipped no file"
    assert sorted(f["name"] for f in files) == folders["archive"]  # each picked up once, no ".1" copies
    assert folders["inbound"] == []
    assert {f["state"] for f in files} == {"acknowledged"}
    sent = stack.ledger(
        "SELECT count(*) AS n FROM orders WHERE flex_business_date = %(d)s AND flex_sent_at IS NOT NULL",
        d=dag_run["day"],
    )[0]["n"]
    assert sent == sum(f["rows"] for f in files) > 0


def _signed_headers(body: bytes, key_b64: str, host: str) -> dict[str, str]:
    """Flex's webhook signature (docs/webhooks.md, section 3), computed here from the documented scheme."""
    nonce, date = secrets.token_hex(16), formatdate(usegmt=True)
    digest = base64.b64encode(hashlib.sha512(body).digest()).decode()
    to_sign = f"POST\n{nonce};{date};{host};{digest}".encode()
    signature = base64.b64encode(
        hmac.new(base64.b64decode(key_b64), to_sign, hashlib.sha512).digest()
    ).decode()
    return {
        "x-fc-nonce": nonce,
        "x-fc-date": date,
        "x-fc-content-sha512": digest,
        "x-fc-authorization": "HMAC-SHA512 SignedHeaders=x-fc-nonce;x-fc-date;host;x-fc-content-sha512"
        f"&Signature={signature}",
        "Content-Type": "application/json",
    }


def _event(order_id: str) -> bytes:
    ts = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps({
        "Event": "order.completed", "TimeStamp": ts, "OrderId": order_id, "ExternalOrderId": f"ext-{order_id}",
        "ConfirmationId": "C0MP05E1", "IsTestMode": True, "IsResent": False, "Amount": 4321, "Currency": "EUR",
    }).encode()  # fmt: skip


def test_signed_webhook_is_stored(stack: Stack) -> None:
    """POST /flex/webhooks on the api-server container: signed with the sandbox's key -> stored; wrong key -> 401."""
    import httpx

    info = json.loads(stack.project.exec("flex-sandbox", "cat", "/sandbox/sandbox.json"))
    host = f"127.0.0.1:{stack.ports.api}"
    good, bad = f"compose-{uuid.uuid4().hex[:10]}", f"compose-{uuid.uuid4().hex[:10]}"
    body = _event(good)
    r = httpx.post(f"http://{host}/flex/webhooks", content=body,
                   headers=_signed_headers(body, info["webhook_subscriber_key"], host), timeout=30)  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["stored"] is True
    wrong_key = base64.b64encode(secrets.token_bytes(32)).decode()
    forged = _event(bad)
    r = httpx.post(f"http://{host}/flex/webhooks", content=forged,
                   headers=_signed_headers(forged, wrong_key, host), timeout=30)  # fmt: skip
    assert r.status_code == 401, r.text
    rows = stack.ledger(
        "SELECT id, event, order_id, status, amount, currency, payload FROM flex_webhook_events "
        "WHERE order_id IN (%(good)s, %(bad)s)",
        good=good, bad=bad,
    )  # fmt: skip
    print(f"compose: webhook row {[{k: v for k, v in row.items() if k != 'payload'} for row in rows]}")
    assert len(rows) == 1
    row = rows[0]
    assert (row["event"], row["order_id"], row["status"], row["amount"], row["currency"]) == (
        "order.completed", good, "APPROVED", 4321, "EUR",
    )  # fmt: skip
    assert row["payload"] == body.decode()


def test_what_ran_is_the_merchants_file_on_host_network(stack: Stack) -> None:
    """The file Compose ran differs from docker-compose.yaml only where host networking forces it."""
    import yaml

    ran = yaml.safe_load(stack.project.file.read_text())["services"]
    mine = load()["services"]
    assert set(ran) == set(mine)
    for name, service in mine.items():
        assert ran[name]["network_mode"] == "host", name
        assert "ports" not in ran[name], name
        assert ran[name].get("depends_on", {}) == (service.get("depends_on") or {}), name
        assert len(ran[name].get("volumes", [])) == len(service.get("volumes", [])), name
        assert ran[name].get("restart") == service.get("restart"), name
    # The one-shot's script is the merchant's, unchanged (only its environment names other ports).
    assert ran["airflow-init"]["command"] == mine["airflow-init"]["command"]
    for name in ("postgres", "redis"):
        assert ran[name]["image"] == STANDIN_IMAGES[f"{name.upper()}_IMAGE"]


def test_down_leaves_nothing_running(stack: Stack) -> None:
    """``docker-compose down -v``: no container, no volume of the project, and every port free again."""
    import socket

    stack.down()
    assert stack.project.containers() == []
    assert stack.project.volumes() == []
    for name, port in vars(stack.ports).items():
        with socket.socket() as s:
            # SO_REUSEADDR: closed connections in TIME_WAIT do not count, a listener still does.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
                s.listen()
            except OSError as exc:
                raise AssertionError(f"{name} port {port} still taken after down: {exc}") from exc
    print(f"compose: down -v in {stack.timings['down']:.0f} s, nothing left")
