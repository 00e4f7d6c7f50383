"""
docker-compose.yaml without a Docker engine: its structure, Compose's own validation, airflow-init run here.

No engine runs on the development machines or in CI, so the file is checked three ways: parsed and
inspected (services, images, healthchecks, dependencies, volumes, every variable documented in
.env.example and docs/deployment.md); validated by the ``docker-compose`` client (exactly CI's
``config -q`` without a .env, and the fully interpolated output with one); and the one-shot
``airflow-init`` script, the only code in the file, executed here against PostgreSQL and the sandbox
with the environment the compose file gives its container. (The healthcheck commands are run against
live Airflow processes by ``test_celery_run.py``.)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.compose import (
    COMPOSE_FILE,
    DEPLOYMENT_DOC,
    DOCKERFILE,
    ENV_EXAMPLE,
    env_file_entries,
    interpolate,
    load,
    mount_target,
    named_volume,
    service_env,
    variables,
)

AIRFLOW_IMAGE = "apache/airflow:3.3.2-python3.11"
#: Service -> the Airflow command it runs (None: not an Airflow component).
SERVICES: dict[str, str | None] = {
    "postgres": None,
    "redis": None,
    "flex-sandbox": None,
    "airflow-init": None,
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery worker",
}
#: Services that run once and exit; everything else runs for good and needs a healthcheck.
ONE_SHOT = {"airflow-init"}
#: Services built from the repository's Dockerfile (the official image plus this provider).
BUILT = {name for name in SERVICES if name.startswith("airflow-")} | {"flex-sandbox"}
SECRETS = {
    "POSTGRES_PASSWORD",
    "AIRFLOW_FERNET_KEY",
    "AIRFLOW_JWT_SECRET",
    "AIRFLOW_API_SECRET_KEY",
    "AIRFLOW_ADMIN_PASSWORD",
}
#: A filled-in .env for the checks that need one (values only used on this machine).
TEST_ENV = {
    "POSTGRES_PASSWORD": "pg0test0password",
    "AIRFLOW_FERNET_KEY": "x8a5H7VQOq0yWB9G0k4m2b9O6l5kJ3QZ1cD5d3WlqWw=",
    "AIRFLOW_JWT_SECRET": "jwt-test-secret",
    "AIRFLOW_API_SECRET_KEY": "api-test-secret",
    "AIRFLOW_ADMIN_PASSWORD": "admin-test-password",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load()


def _services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _depends_on(service: dict[str, Any]) -> dict[str, dict[str, str]]:
    deps = service.get("depends_on") or {}
    assert isinstance(deps, dict), f"depends_on must use the long form with conditions: {deps}"
    return deps


def test_services_images_and_commands(compose: dict[str, Any]) -> None:
    """The expected service set; Airflow and the sandbox run the provider's image built from the Dockerfile."""
    services = _services(compose)
    assert set(services) == set(SERVICES)
    images = {name: interpolate(s["image"], {}) for name, s in services.items()}
    for name in ("postgres", "redis"):
        repo, _, tag = images[name].partition(":")
        assert repo == name
        assert tag not in ("", "latest"), f"{name} image must be pinned: {images[name]}"
    for name in BUILT:
        build = services[name]["build"]
        assert (Path(COMPOSE_FILE.parent) / build["context"]).resolve() == DOCKERFILE.parent
        assert build["dockerfile"] == DOCKERFILE.name
        assert interpolate(build["args"]["AIRFLOW_IMAGE"], {}) == AIRFLOW_IMAGE
        assert images[name] == images["airflow-apiserver"], f"{name} must share the one built image"
    dockerfile = DOCKERFILE.read_text()
    assert f"ARG AIRFLOW_IMAGE={AIRFLOW_IMAGE}" in dockerfile
    assert "FROM ${AIRFLOW_IMAGE}" in dockerfile
    assert '"/opt/flex[celery,postgres]"' in dockerfile  # the provider with its celery + postgres extras
    assert "apache-airflow==${AIRFLOW_VERSION}" in dockerfile  # pip must keep the image's Airflow
    for name, command in SERVICES.items():
        if command is not None:
            assert services[name]["command"] == command, name
    sandbox = " ".join(services["flex-sandbox"]["command"])
    assert sandbox.startswith("python -m flex_provider.sandbox serve")
    assert "--host=0.0.0.0" in sandbox
    assert "--data-dir=/sandbox" in sandbox


def test_airflow_settings_fit_the_topology(compose: dict[str, Any]) -> None:
    """CeleryExecutor on the redis and postgres services; one JWT secret; the execution API on the api-server."""
    services = _services(compose)
    api_ports = [str(p).rsplit(":", 1)[-1] for p in services["airflow-apiserver"]["ports"]]
    assert api_ports == ["8080"]
    for name in (n for n, cmd in SERVICES.items() if cmd or n == "airflow-init"):
        env = service_env(compose, name, TEST_ENV)
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:6379/"), name
        assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith(
            "db+postgresql://airflow:pg0test0password@postgres:5432/"
        )
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith(
            "postgresql+psycopg2://airflow:pg0test0password@postgres:5432/"
        )
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
        assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == TEST_ENV["AIRFLOW_JWT_SECRET"]
        assert env["AIRFLOW__CORE__FERNET_KEY"] == TEST_ENV["AIRFLOW_FERNET_KEY"]
        assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
        # Empty connection variables fall back to the metastore connections airflow-init stores.
        for conn in ("FLEX_DEFAULT", "FLEX_SFTP_DEFAULT", "FLEX_MERCHANT_DB", "FLEX_LEDGER_DB"):
            assert env[f"AIRFLOW_CONN_{conn}"] == "", name
        assert (
            service_env(compose, name, {"AIRFLOW_CONN_FLEX_DEFAULT": "{}"})["AIRFLOW_CONN_FLEX_DEFAULT"]
            == "{}"
        )


def test_long_running_services_have_healthchecks(compose: dict[str, Any]) -> None:
    for name, service in _services(compose).items():
        check = service.get("healthcheck")
        if name in ONE_SHOT:
            assert check is None, f"{name} runs once; a healthcheck would never report healthy"
            assert service.get("restart") == "no", name
            continue
        assert check, f"{name} has no healthcheck"
        assert not check.get("disable"), name
        test = check["test"]
        assert isinstance(test, list), (name, test)
        assert test[0] in ("CMD", "CMD-SHELL"), (name, test)
        assert len(test) > 1, (name, test)
        assert check.get("interval"), name
        assert check.get("retries"), name


def test_depends_on_waits_for_health_or_completion(compose: dict[str, Any]) -> None:
    """Each dependency waits on a healthcheck, or on the one-shot's success; no cycles."""
    services = _services(compose)
    graph: dict[str, set[str]] = {}
    for name, service in services.items():
        graph[name] = set()
        for target, spec in _depends_on(service).items():
            assert target in services, f"{name} depends on unknown {target}"
            condition = spec.get("condition")
            if target in ONE_SHOT:
                assert condition == "service_completed_successfully", (name, target, condition)
            else:
                assert condition == "service_healthy", (name, target, condition)
                assert services[target].get("healthcheck"), (
                    f"{name} waits for {target}, which has no healthcheck"
                )
            graph[name].add(target)
    for name in BUILT - ONE_SHOT - {"flex-sandbox"}:
        assert "airflow-init" in graph[name], f"{name} must start after airflow-init"
    done: set[str] = set()
    while len(done) < len(graph):
        ready = {n for n, deps in graph.items() if n not in done and deps <= done}
        assert ready, f"dependency cycle among {set(graph) - done}"
        done |= ready


def test_named_volumes_declared_used_and_shared(compose: dict[str, Any]) -> None:
    """Every named volume is declared and used; the batch folder is one volume for all Airflow services."""
    services = _services(compose)
    declared = set(compose.get("volumes") or {})
    mounts: dict[str, dict[str, str]] = {}
    for name, service in services.items():
        for spec in service.get("volumes") or []:
            volume = named_volume(spec)
            if volume is not None:
                mounts.setdefault(volume, {})[name] = mount_target(spec)
    assert set(mounts) == declared, f"declared {sorted(declared)}, mounted {sorted(mounts)}"
    assert mounts["postgres-data"] == {"postgres": "/var/lib/postgresql/data"}
    assert mounts["redis-data"] == {"redis": "/data"}
    for name in BUILT - {"flex-sandbox"}:
        env = service_env(compose, name, TEST_ENV)
        # extract_declines writes the files one worker, ship reads them on another: one shared volume.
        assert mounts["flex-batches"][name] == env["AIRFLOW__FLEX__BATCH_DIR"], name
        assert mounts["airflow-logs"][name] == "/opt/airflow/logs", name
        assert mounts["flex-sandbox"][name] == "/sandbox", name  # the sandbox's SFTP client key
    assert mounts["flex-sandbox"]["flex-sandbox"] == "/sandbox"


def test_worker_can_be_scaled(compose: dict[str, Any]) -> None:
    """``--scale airflow-worker=N`` needs replicas without a fixed name, hostname or host port."""
    worker = _services(compose)["airflow-worker"]
    for key in ("container_name", "hostname", "ports"):
        assert key not in worker, key
    ping = " ".join(worker["healthcheck"]["test"][1:])
    assert "inspect ping" in ping
    assert "celery@$${HOSTNAME}" in ping


def test_every_variable_is_documented(compose: dict[str, Any]) -> None:
    """Each ``${VAR}`` is in .env.example (secrets empty, defaults true to the file) and in docs/deployment.md."""
    used = variables(compose)
    entries = env_file_entries()
    example = {name for name, _, _ in entries}
    assert set(used) == example, (
        f"missing in .env.example: {set(used) - example}; unused: {example - set(used)}"
    )
    docs = DEPLOYMENT_DOC.read_text()
    undocumented = sorted(name for name in used if f"`{name}`" not in docs)
    assert not undocumented, f"not explained in {DEPLOYMENT_DOC.name}: {undocumented}"
    for name, value, commented in entries:
        if not commented:  # uncommented lines are the ones a user fills in: never a committed value
            assert value == "", f".env.example sets {name}"
    uncommented = {name for name, _, commented in entries if not commented}
    without_default = {name for name, defaults in used.items() if defaults <= {None, ""}}
    assert SECRETS <= without_default
    assert without_default == uncommented, "variables without a default are the ones left to fill in"
    for name, value, commented in entries:
        if commented and name not in uncommented:
            assert used[name] == {value}, (
                f".env.example says {name}={value}, the compose default is {used[name]}"
            )


def _docker_compose() -> str:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.skip("docker-compose client not installed (scripts/setup.sh installs it)")
    return exe


def _project_copy(tmp_path: Path) -> Path:
    """The compose file and Dockerfile alone in a folder: no .env, as on a fresh CI checkout."""
    shutil.copy(COMPOSE_FILE, tmp_path / COMPOSE_FILE.name)
    shutil.copy(DOCKERFILE, tmp_path / DOCKERFILE.name)
    return tmp_path


def _config(exe: str, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [exe, "-f", COMPOSE_FILE.name, *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")},
    )


def test_docker_compose_validates_without_env_file(tmp_path: Path) -> None:
    """CI's exact command passes with no .env; the same client rejects a broken copy (the check can fail)."""
    exe = _docker_compose()
    folder = _project_copy(tmp_path)
    out = _config(exe, folder, "config", "-q")
    assert out.returncode == 0, out.stderr
    assert "WARNING" not in out.stderr, out.stderr  # every variable has a default, if only an empty one
    broken = folder / "broken.yaml"
    broken.write_text(COMPOSE_FILE.read_text().replace("  flex-batches:\n", "", 1))
    out = subprocess.run(
        [exe, "-f", broken.name, "config", "-q"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode != 0, out.stderr
    assert "flex-batches" in out.stderr, out.stderr


def test_docker_compose_interpolates_env_file(tmp_path: Path) -> None:
    """With a filled-in .env (example + secrets + a Flex connection JSON), Compose hands the values through."""
    import yaml

    exe = _docker_compose()
    folder = _project_copy(tmp_path)
    conn = {"conn_type": "flex", "host": "https://api.flexfactor.io/v1", "login": "key", "password": "p$w"}
    lines = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        name = line.split("=", 1)[0]
        if name in TEST_ENV:
            line = f"{name}={TEST_ENV[name]}"
        elif name == "AIRFLOW_CONN_FLEX_DEFAULT":
            line = f"{name}='{json.dumps(conn)}'"
        lines.append(line)
    (folder / ".env").write_text("\n".join(lines) + "\n")
    out = _config(exe, folder, "config")
    assert out.returncode == 0, out.stderr
    rendered = yaml.safe_load(out.stdout)["services"]
    env = {k: interpolate(v, {}) for k, v in rendered["airflow-worker"]["environment"].items()}  # `$$` -> `$`
    assert json.loads(env["AIRFLOW_CONN_FLEX_DEFAULT"]) == conn
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == TEST_ENV["AIRFLOW_JWT_SECRET"]
    assert TEST_ENV["POSTGRES_PASSWORD"] in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert rendered["postgres"]["environment"]["POSTGRES_PASSWORD"] == TEST_ENV["POSTGRES_PASSWORD"]
    assert (
        rendered["airflow-init"]["environment"]["AIRFLOW_ADMIN_PASSWORD"]
        == TEST_ENV["AIRFLOW_ADMIN_PASSWORD"]
    )


# -- airflow-init, executed here -------------------------------------------------------------------


def _init_script(compose: dict[str, Any]) -> str:
    command = compose["services"]["airflow-init"]["command"]
    assert command[:2] == ["bash", "-c"], command
    return interpolate(command[2], {})


@pytest.fixture
def init_run(compose: dict[str, Any], tmp_path: Path, sandbox: Any) -> Iterator[tuple[dict[str, str], Any]]:
    """airflow-init's environment from the compose file, with container hosts and paths made local."""
    from tests.dags.support import fresh_database, pg_url
    from tests.fixtures.postgres import PG_HOST, PG_PORT, PG_USER

    with fresh_database("flex_init_meta") as meta:
        merchant = f"flex_init_merchant_{uuid.uuid4().hex[:8]}"
        env = service_env(compose, "airflow-init", TEST_ENV)
        local = {
            # What differs from the container: hosts, paths and the merchant DB name.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": pg_url(meta),
            "FLEX_INIT_PG_URL": f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}",
            "FLEX_MERCHANT_DB_NAME": merchant,
            "FLEX_INIT_SANDBOX_INFO": str(sandbox.data_dir / "sandbox.json"),
            "FLEX_INIT_SANDBOX_HOST": "127.0.0.1",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(tmp_path / "auth" / "passwords.json"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path / "dags"),
            "FLEX_DEMO_ROWS": "120",
        }
        assert set(local) <= set(env), set(local) - set(env)
        env.update(local)
        env.update(
            PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
            AIRFLOW_HOME=str(tmp_path / "airflow"),
            HOME=os.environ.get("HOME", str(tmp_path)),
        )
        from sqlalchemy import create_engine

        engine = create_engine(pg_url(meta))
        try:
            yield env, engine
        finally:
            engine.dispose()
            _drop_database(merchant)


def _drop_database(name: str) -> None:
    import psycopg2

    from tests.fixtures.postgres import PG_HOST, PG_PORT, PG_USER

    admin = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", connect_timeout=3)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()


def _run_init(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=240, check=False
    )


def _hook_check(env: dict[str, str]) -> dict[str, list[Any]]:
    """
    Resolve the stored Flex connections as Airflow does and test them with the provider's hooks.

    In a fresh process with the container's empty ``AIRFLOW_CONN_*`` variables: Airflow's secrets chain
    (environment, then metadata DB) finds and decrypts them; the hooks (which outside a task read
    connections from the environment only) then get them through their variables.
    """
    code = (
        "import json, os\n"
        "from airflow.models import Connection\n"
        "for conn_id in ('flex_default', 'flex_sftp_default'):\n"
        "    conn = Connection.get_connection_from_secrets(conn_id)\n"
        "    os.environ['AIRFLOW_CONN_' + conn_id.upper()] = conn.as_json()\n"
        "from flex_provider.hooks.api import FlexApiHook\n"
        "from flex_provider.hooks.sftp import FlexSftpHook\n"
        "print(json.dumps({'api': FlexApiHook().test_connection(),"
        " 'sftp': FlexSftpHook(ssh_conn_id='flex_sftp_default').test_connection()}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_airflow_init_script_runs_and_is_idempotent(
    compose: dict[str, Any], init_run: tuple[dict[str, str], Any]
) -> None:
    """Refuses to start without secrets; then migrates, stores connections the hooks can use, seeds once."""
    from sqlalchemy import create_engine, text

    from tests.dags.support import pg_url

    env, meta = init_run
    script = _init_script(compose)

    out = _run_init(script, {**env, "AIRFLOW__API_AUTH__JWT_SECRET": "", "AIRFLOW_ADMIN_PASSWORD": ""})
    assert out.returncode == 1
    assert "empty secret(s): AIRFLOW__API_AUTH__JWT_SECRET AIRFLOW_ADMIN_PASSWORD" in out.stderr, out.stderr

    out = _run_init(script, env)
    assert out.returncode == 0, f"{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    assert "airflow-init: done" in out.stdout
    passwords = Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
    assert json.loads(passwords.read_text()) == {"admin": TEST_ENV["AIRFLOW_ADMIN_PASSWORD"]}
    assert passwords.stat().st_mode & 0o077 == 0

    def connections() -> dict[str, dict[str, Any]]:
        with meta.connect() as c:
            rows = c.execute(
                text(
                    "SELECT conn_id, conn_type, host, schema, is_encrypted, is_extra_encrypted FROM connection"
                )
            )
            return {r.conn_id: dict(r._mapping) for r in rows}

    conns = connections()
    assert set(conns) == {"flex_default", "flex_sftp_default", "flex_merchant_db", "flex_ledger_db"}
    assert conns["flex_default"]["conn_type"] == "flex"
    assert conns["flex_sftp_default"]["conn_type"] == "sftp"
    assert conns["flex_merchant_db"]["schema"] == env["FLEX_MERCHANT_DB_NAME"]
    assert conns["flex_default"]["is_encrypted"]  # the Fernet key is in use
    assert conns["flex_default"]["is_extra_encrypted"]
    # Empty AIRFLOW_CONN_* variables, as in the containers: the hooks fall through to these connections.
    checks = _hook_check(env)
    assert checks["api"][0] is True, checks
    assert checks["sftp"][0] is True, checks

    merchant = create_engine(pg_url(env["FLEX_MERCHANT_DB_NAME"]))
    try:
        count = "SELECT COUNT(*) FROM orders WHERE response_status = 'DECLINED'"
        with merchant.connect() as c:
            declines = c.execute(text(count)).scalar()
        assert declines >= int(env["FLEX_DEMO_ROWS"])

        # Again, as on every `docker compose up`, now with the Flex API connection given in .env.
        override = json.dumps({"conn_type": "flex", "host": "https://api.flexfactor.io/v1"})
        out = _run_init(script, {**env, "AIRFLOW_CONN_FLEX_DEFAULT": override})
        assert out.returncode == 0, f"{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
        assert "flex_default comes from AIRFLOW_CONN_FLEX_DEFAULT" in out.stdout
        assert connections() == conns
        with merchant.connect() as c:
            assert c.execute(text(count)).scalar() == declines  # seeded once
    finally:
        merchant.dispose()
