"""
docker-compose.yaml started for real on this machine: a Compose project with a host-network override.

No bridge network exists here (``dockerd --bridge=none``, scripts/compose/engine.sh), so every service
runs with ``network_mode: host`` and finds the others by name through ``extra_hosts`` entries that all
point at 127.0.0.1. What the override changes, and why, is only what host networking forces:

- every listener binds 127.0.0.1 on a free port of its own (the host already runs PostgreSQL on 5432,
  Redis on 6379, ...), so the URLs and healthchecks that name a port get that port;
- the Celery worker and the triggerer run with ``--skip-serve-logs``: Airflow's log server binds every
  interface and cannot be told otherwise (the logs are on the shared ``airflow-logs`` volume anyway).

One change is for the shared 2-core machine only: the api-server runs one worker process.

Everything else (images, build, volumes, dependencies, the ``airflow-init`` script, the other
healthchecks) is the merchant's file as it is. The images are the stand-ins of scripts/compose/images.sh,
selected through the variables the compose file reads.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.deploy.compose import COMPOSE_FILE, REPO, load

STANDIN_IMAGES = {
    "AIRFLOW_BASE_IMAGE": "flex-standin/airflow:3.3.2-python3.11",
    "POSTGRES_IMAGE": "flex-standin/postgres:15-bookworm",
    "REDIS_IMAGE": "flex-standin/redis:7.0-bookworm",
    "FLEX_IMAGE": "airflow-provider-flex:compose-test",
}
#: Names the services reach each other by (in the compose file's URLs and the init script).
HOST_NAMES = ("postgres", "redis", "flex-sandbox", "airflow-apiserver")
AIRFLOW_SERVICES = (
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Ports:
    """The loopback ports of one run (all free when chosen)."""

    postgres: int = field(default_factory=free_port)
    redis: int = field(default_factory=free_port)
    api: int = field(default_factory=free_port)
    scheduler_health: int = field(default_factory=free_port)
    sandbox_api: int = field(default_factory=free_port)
    sandbox_sftp: int = field(default_factory=free_port)


def env_file(secrets: dict[str, str], ports: Ports, settings: dict[str, str]) -> str:
    """The run's .env: the secrets, the stand-in images, the host ports, and DAG/demo settings."""
    values = {
        **secrets,
        **STANDIN_IMAGES,
        "AIRFLOW_API_PORT": str(ports.api),
        "FLEX_SANDBOX_API_PORT": str(ports.sandbox_api),
        "FLEX_SANDBOX_SFTP_PORT": str(ports.sandbox_sftp),
        **settings,
    }
    return "".join(f"{key}={value}\n" for key, value in values.items())


def override(ports: Ports, postgres_password: str) -> dict[str, Any]:
    """The host-network override (see the module docstring); the rest comes from docker-compose.yaml."""
    services = load()["services"]
    pg = f"airflow:{postgres_password}@postgres:{ports.postgres}"
    airflow_env = {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{pg}/airflow",
        "AIRFLOW__CELERY__BROKER_URL": f"redis://redis:{ports.redis}/0",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://{pg}/airflow",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://airflow-apiserver:{ports.api}/execution/",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(ports.api),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(ports.scheduler_health),
    }
    out: dict[str, dict[str, Any]] = {
        name: {"network_mode": "host", "extra_hosts": [f"{host}:127.0.0.1" for host in HOST_NAMES]}
        for name in services
    }
    for name, service in services.items():
        if "build" in service:
            out[name]["build"] = {"network": "host"}
    for name in AIRFLOW_SERVICES:
        out[name]["environment"] = dict(airflow_env)
    out["airflow-init"]["environment"]["FLEX_INIT_PG_URL"] = f"postgresql://{pg}"
    out["postgres"].update(
        environment={"PGPORT": str(ports.postgres)},  # pg_isready in the healthcheck reads it too
        command=["postgres", "-c", "listen_addresses=127.0.0.1", "-p", str(ports.postgres)],
    )
    out["redis"].update(
        command=["redis-server", "--appendonly", "yes", "--bind", "127.0.0.1", "--port", str(ports.redis)],
        healthcheck={"test": ["CMD", "redis-cli", "-p", str(ports.redis), "ping"]},
    )
    sandbox = [
        arg.replace("--host=0.0.0.0", "--host=127.0.0.1")
        .replace("--port=8765", f"--port={ports.sandbox_api}")
        .replace("--sftp-port=2222", f"--sftp-port={ports.sandbox_sftp}")
        .replace("airflow-apiserver:8080", f"airflow-apiserver:{ports.api}")
        for arg in services["flex-sandbox"]["command"]
    ]
    sandbox_check = [
        part.replace("127.0.0.1:8765", f"127.0.0.1:{ports.sandbox_api}")
        for part in services["flex-sandbox"]["healthcheck"]["test"]
    ]
    out["flex-sandbox"].update(command=sandbox, healthcheck={"test": sandbox_check})
    out["airflow-apiserver"]["healthcheck"] = {
        "test": [
            p.replace("localhost:8080", f"localhost:{ports.api}")
            for p in _check(services, "airflow-apiserver")
        ]
    }
    out["airflow-scheduler"]["healthcheck"] = {
        "test": [
            p.replace("localhost:8974", f"localhost:{ports.scheduler_health}")
            for p in _check(services, "airflow-scheduler")
        ]
    }
    out["airflow-worker"]["command"] = "celery worker --skip-serve-logs"
    out["airflow-triggerer"]["command"] = "triggerer --skip-serve-logs"
    return {"services": out}


def _check(services: dict[str, Any], name: str) -> list[str]:
    test = services[name]["healthcheck"]["test"]
    return [str(part) for part in test]


class ComposeProject:
    """
    One Compose project: docker-compose.yaml + the override, as Compose itself merges them, without ports.

    ``docker-compose config`` renders the two files with the run's .env (Compose's own merge and
    interpolation); the rendered file loses only its ``ports`` lists, which Docker discards under host
    networking and the docker-compose 1.29 client refuses next to ``network_mode: host`` (an override can
    add list entries but not remove them). Every command then runs on that file, bounded in time.
    """

    def __init__(self, name: str, folder: Path, env_text: str, override_data: dict[str, Any]) -> None:
        import yaml

        self.name = name
        self.env_path = folder / "compose.env"
        self.env_path.write_text(env_text)
        override_path = folder / "docker-compose.host-network.yaml"
        override_path.write_text(yaml.safe_dump(override_data, sort_keys=False))
        merged = _client(
            "--env-file", str(self.env_path), "-f", str(COMPOSE_FILE), "-f", str(override_path), "config",
            timeout=60,
        )  # fmt: skip
        data = yaml.safe_load(merged.stdout)
        for service in data["services"].values():
            service.pop("ports", None)
        self.file = folder / "docker-compose.rendered.yaml"
        self.file.write_text(yaml.safe_dump(data, sort_keys=False))

    def run(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _client(
            "-p", self.name, "--project-directory", str(REPO), "--env-file", str(self.env_path),
            "-f", str(self.file), *args, timeout=timeout, check=check,
        )  # fmt: skip

    def containers(self, all_states: bool = True) -> list[dict[str, Any]]:
        """``docker inspect`` of every container of the project (by Compose's project label)."""
        ids = docker(
            "ps",
            "-q",
            *(["-a"] if all_states else []),
            "--filter",
            f"label=com.docker.compose.project={self.name}",
        )
        if not ids.split():
            return []
        return json.loads(docker("inspect", *ids.split()))

    def states(self) -> dict[str, dict[str, Any]]:
        """Service -> ``{"status", "health", "exit_code"}`` of its (one) container."""
        found = {}
        for c in self.containers():
            state = c["State"]
            found[c["Config"]["Labels"]["com.docker.compose.service"]] = {
                "status": state["Status"],
                "health": (state.get("Health") or {}).get("Status"),
                "exit_code": state["ExitCode"],
            }
        return found

    def volumes(self) -> list[str]:
        return docker(
            "volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={self.name}"
        ).split()

    def exec(self, service: str, *argv: str, timeout: float = 120) -> str:
        return self.run("exec", "-T", service, *argv, timeout=timeout).stdout


def _client(*args: str, timeout: float, check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        ["docker-compose", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and out.returncode != 0:
        raise AssertionError(
            f"docker-compose {' '.join(args[-3:])} failed ({out.returncode}):\n"
            f"{out.stdout[-3000:]}\n{out.stderr[-5000:]}"
        )
    return out


def docker(*args: str, timeout: float = 120) -> str:
    out = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if out.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {out.stderr[-2000:]}")
    return out.stdout


def wait_until_healthy(
    project: ComposeProject, one_shot: set[str], timeout: float
) -> dict[str, dict[str, Any]]:
    """Poll until every service is healthy and each one-shot exited 0; fail on an exit or the deadline."""
    deadline = time.monotonic() + timeout
    expected = set(load()["services"])
    while True:
        states = project.states()
        done = set(states) == expected and all(
            (s["status"] == "exited" and s["exit_code"] == 0)
            if name in one_shot
            else s["health"] == "healthy"
            for name, s in states.items()
        )
        if done:
            return states
        broken = {
            n: s for n, s in states.items()
            if (n in one_shot and s["status"] == "exited" and s["exit_code"] != 0)
            or s["health"] == "unhealthy" or (n not in one_shot and s["status"] == "exited")
        }  # fmt: skip
        if broken or time.monotonic() > deadline:
            logs = project.run("logs", "--no-color", "--tail", "40", *(broken or states), check=False)
            raise AssertionError(f"not healthy: {broken or states}\n{logs.stdout[-6000:]}")
        time.sleep(2)


def _proc_listeners() -> dict[int, tuple[str, int]]:
    """Socket inode -> (address, port) of every TCP socket listening in the host's network namespace."""
    found = {}
    for path, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        for line in Path(path).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A":  # LISTEN
                continue
            hex_addr, hex_port = fields[1].split(":")
            raw = bytes.fromhex(hex_addr)
            # The kernel prints each 32-bit word of the address in host (little-endian) byte order.
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found[int(fields[9])] = (socket.inet_ntop(family, raw), int(hex_port, 16))
    return found


def container_listeners(project: ComposeProject) -> dict[str, set[tuple[str, int]]]:
    """Service -> the TCP addresses its container's processes listen on (host network: the host's sockets)."""
    listening = _proc_listeners()
    by_service: dict[str, set[tuple[str, int]]] = {}
    for c in project.containers(all_states=False):
        service = c["Config"]["Labels"]["com.docker.compose.service"]
        pids = docker("top", c["Id"], "-eo", "pid").split()[1:]
        found = by_service.setdefault(service, set())
        for pid in pids:
            try:
                links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
            except OSError:  # a process that ended meanwhile (e.g. a healthcheck)
                continue
            for link in links:
                if link.startswith("socket:[") and int(link[8:-1]) in listening:
                    found.add(listening[int(link[8:-1])])
    return by_service
