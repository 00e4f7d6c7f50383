"""
A local Airflow for the UI: api-server, scheduler, dag-processor and triggerer as separate processes.

Not ``airflow standalone``: that one starts 32 workers and does not pass SIGTERM on, so Ctrl-C left
processes behind. Here each component runs in its own process group from the venv's ``bin/`` (which is
put on PATH, so the components find ``airflow`` for their own subprocesses), logs to ``logs/<name>.log``
and is stopped with SIGTERM, then SIGKILL after a grace period. The api-server listens on 127.0.0.1.
Used by ``make ui`` (:mod:`flex_provider.ui.launch`) and by the browser tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
ADMIN = "admin"


def venv_bin() -> Path:
    """The directory of the running interpreter (the venv's ``bin``), where ``airflow`` lives."""
    return Path(sys.executable).parent


class AirflowStack:
    """
    One Airflow installation in ``home`` (SQLite metadata DB), with its processes.

    :param home: ``AIRFLOW_HOME``; created. Secrets (fernet key, JWT secret, admin password) are made
        once and kept in ``home/stack-secrets.json`` (mode 0600), so a restart reuses them.
    :param port: api-server port on 127.0.0.1.
    :param dags_folder: the DAG files to parse.
    :param extra_env: more settings for every component (``AIRFLOW__FLEX__*``, ``FLEX_*``...).
    """

    def __init__(self, home: Path, *, port: int, dags_folder: Path, extra_env: Mapping[str, str] | None = None) -> None:
        self.home = home.resolve()
        self.home.mkdir(parents=True, exist_ok=True)
        self.port = port
        self.log_dir = self.home / "logs"
        self.log_dir.mkdir(exist_ok=True)
        self.password_file = self.home / "simple_auth_manager_passwords.json"
        keys = self._secrets()
        self.env: dict[str, str] = {
            "PATH": f"{venv_bin()}:{os.environ.get('PATH', '')}",
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "2",
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__CORE__FERNET_KEY": keys["fernet_key"],
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.password_file),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__API_AUTH__JWT_SECRET": keys["jwt_secret"],
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            **(extra_env or {}),
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        """The UI and API base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_password(self) -> str:
        """The admin's password (from the password file the api-server reads)."""
        return json.loads(self.password_file.read_text())[ADMIN]

    def _secrets(self) -> dict[str, str]:
        path = self.home / "stack-secrets.json"
        if path.exists():
            return json.loads(path.read_text())
        from cryptography.fernet import Fernet

        keys = {"fernet_key": Fernet.generate_key().decode(), "jwt_secret": secrets.token_urlsafe(32)}
        self._write_private(path, keys)
        self._write_private(self.password_file, {ADMIN: secrets.token_urlsafe(12)})
        return keys

    @staticmethod
    def _write_private(path: Path, data: Any) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh)

    # -- commands ---------------------------------------------------------------------------------
    def run(self, *args: str, timeout: float = 300) -> str:
        """Run one ``airflow`` CLI command to completion (output in ``logs/cli.log``); raise on failure."""
        log = self.log_dir / "cli.log"
        with log.open("ab") as fh:
            fh.write(f"\n$ airflow {' '.join(args)}\n".encode())
            fh.flush()
            proc = subprocess.run([str(venv_bin() / "airflow"), *args], env={**os.environ, **self.env},
                                  stdout=fh, stderr=subprocess.STDOUT, timeout=timeout, check=False)
        if proc.returncode != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
            raise RuntimeError(f"airflow {' '.join(args)} failed ({proc.returncode}):\n{tail}")
        return log.read_text(errors="replace")

    def migrate(self) -> None:
        """``airflow db migrate``."""
        self.run("db", "migrate")

    def import_connections(self, connections: Mapping[str, Mapping[str, Any]]) -> None:
        """Store connections in the metadata DB (visible on the Connections page), replacing same ids.

        The file handed to ``airflow connections import`` holds secrets: it is private and deleted.
        """
        path = self.home / "connections.import.json"
        self._write_private(path, {cid: dict(c) for cid, c in connections.items()})
        try:
            self.run("connections", "import", "--overwrite", str(path))
        finally:
            path.unlink(missing_ok=True)

    # -- processes --------------------------------------------------------------------------------
    def start(self, components: Sequence[str] = COMPONENTS) -> None:
        """Start the components, each in its own process group."""
        for name in components:
            args = [str(venv_bin() / "airflow"), name]
            if name == "api-server":
                args += ["--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
            with (self.log_dir / f"{name}.log").open("ab") as log:
                self.procs[name] = subprocess.Popen(args, env={**os.environ, **self.env}, stdout=log,
                                                    stderr=subprocess.STDOUT, start_new_session=True)

    def check_alive(self) -> None:
        """Raise with the log tail of any component that exited."""
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                tail = "\n".join((self.log_dir / f"{name}.log").read_text(errors="replace").splitlines()[-30:])
                raise RuntimeError(f"airflow {name} exited with {proc.returncode}:\n{tail}")

    def wait_ready(self, paths: Sequence[str] = ("/api/v2/monitor/health",), *, timeout: float = 180) -> None:
        """Wait (bounded) until every path answers 200; components must stay alive meanwhile."""
        import httpx

        deadline = time.monotonic() + timeout
        pending = list(paths)
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while pending:
                self.check_alive()
                with contextlib.suppress(httpx.TransportError):
                    if client.get(pending[0]).status_code == 200:
                        pending.pop(0)
                        continue
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.url}{pending[0]} not ready within {timeout:.0f} s")
                time.sleep(0.5)

    def token(self) -> str:
        """A JWT for the admin (``POST /auth/token``)."""
        import httpx

        r = httpx.post(f"{self.url}/auth/token", json={"username": ADMIN, "password": self.admin_password},
                       timeout=30)
        r.raise_for_status()
        return r.json()["access_token"]

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM every component's process group, wait up to ``grace`` s, then SIGKILL what is left."""
        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.procs.values():
            try:
                proc.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        self.procs.clear()
