"""``make ui``'s launcher end to end: UI up on 127.0.0.1 with connections stored and testable, Ctrl-C stops all."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.fixtures.webhooks import free_port

pytestmark = pytest.mark.slow  # ~45 s: db migrate + four Airflow components


def _wait_for(log: Path, pattern: str, proc: subprocess.Popen[bytes], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        if re.search(pattern, text):
            return text
        assert proc.poll() is None, text[-3000:]
        time.sleep(0.5)
    raise AssertionError(f"{pattern!r} not printed within {timeout:.0f} s:\n{log.read_text(errors='replace')[-3000:]}")


def test_launcher_serves_the_ui_on_loopback_and_stops_everything_on_ctrl_c(tmp_path: Path):
    """The printed URL and password file, 127.0.0.1 only, stored + testable connections, Ctrl-C mid-run."""
    port = free_port()
    work = tmp_path / "demo-ui"
    log = tmp_path / "launch.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}  # as a user's shell has it
    env["PATH"] = "/usr/bin:/bin"  # the venv is NOT on PATH: the launcher must cope (issue 15)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "flex_provider.ui.launch", "--port", str(port), "--dir", str(work), "--days", "1",
             "--rows", "40"],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=Path(__file__).parents[2],
        )
    children: list[psutil.Process] = []
    try:
        text = _wait_for(log, r"Airflow UI ready", proc, 240)
        text = _wait_for(log, r"stop\s+Ctrl-C", proc, 10)
        password_file = work / "airflow" / "simple_auth_manager_passwords.json"
        assert f"http://127.0.0.1:{port}" in text
        assert str(password_file) in text
        password = json.loads(password_file.read_text())["admin"]
        assert password not in text  # the password file is named, its content is not printed
        assert oct(password_file.stat().st_mode & 0o777) == "0o600"

        listening = {c.laddr.ip for c in psutil.net_connections(kind="tcp")
                     if c.status == psutil.CONN_LISTEN and c.laddr.port == port}
        assert listening == {"127.0.0.1"}
        assert httpx.get(f"http://127.0.0.1:{port}/flex/health", timeout=10).status_code == 200

        token = httpx.post(f"http://127.0.0.1:{port}/auth/token", json={"username": "admin", "password": password},
                           timeout=30).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        conns = httpx.get(f"http://127.0.0.1:{port}/api/v2/connections", headers=headers, timeout=30).json()
        assert {c["connection_id"] for c in conns["connections"]} == {
            "flex_default", "flex_sftp_default", "flex_merchant_db", "flex_ledger_db"}
        flex = next(c for c in conns["connections"] if c["connection_id"] == "flex_default")
        sandbox = json.loads((work / "sandbox" / "sandbox.json").read_text())
        assert flex["host"] == sandbox["api_url"]  # read after the sandbox wrote it, never empty
        tested = httpx.post(f"http://127.0.0.1:{port}/api/v2/connections/test", headers=headers, timeout=60, json={
            "connection_id": "flex_default", "conn_type": "flex", "host": flex["host"], "port": flex["port"],
            "login": flex["login"], "password": "***", "extra": flex["extra"]}).json()
        assert tested["status"] is True, tested

        children[:] = psutil.Process(proc.pid).children(recursive=True)
        started = " ".join(" ".join(c.cmdline()) for c in children)
        for component in ("api_server", "scheduler", "dag-processor", "triggerer", "flex_provider.sandbox serve"):
            assert component in started, component  # separate processes, not `airflow standalone`
        _wait_for(log, r"flex_mit_daily for \d{4}-\d\d-\d\d \(scheduler run\)", proc, 60)
        proc.send_signal(signal.SIGINT)  # Ctrl-C while the launcher waits for a DAG run
        assert proc.wait(60) == 0
        time.sleep(1)
        alive = [c.pid for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
        assert alive == [], [" ".join(psutil.Process(p).cmdline()) for p in alive]
        assert "stopped" in log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        for child in children:
            if child.is_running():
                child.kill()
