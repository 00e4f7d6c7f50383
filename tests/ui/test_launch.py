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


def _cmdline(proc: psutil.Process) -> str:
    """A child's command line; '' for one that exited meanwhile (a short-lived helper, now a zombie)."""
    try:
        return " ".join(proc.cmdline())
    except (psutil.ZombieProcess, psutil.NoSuchProcess):
        return ""


def _ledger_by_day(ledger_db: Path, mid: str) -> tuple[dict[str, dict[str, int]], dict[tuple[str, str], int]]:
    """
    What the ledger itself says, per business day: orders shipped, rescued, expired and still pending
    (from ``flex_order_state``), and the rescued amount per (day, currency) in minor units.
    """
    import sqlite3

    counts: dict[str, dict[str, int]] = {}
    amounts: dict[tuple[str, str], int] = {}
    with sqlite3.connect(ledger_db) as db:
        rows = db.execute(
            "SELECT business_date, status, currency, approved_minor FROM flex_order_state "
            "WHERE mid = ? AND sent_at IS NOT NULL",
            (mid,),
        ).fetchall()
    for day, status, currency, approved in rows:
        day = str(day)[:10]
        c = counts.setdefault(day, {"sent": 0, "rescued": 0, "expired": 0, "pending": 0})
        c["sent"] += 1
        if status in ("APPROVED", "REFUNDED"):
            c["rescued"] += 1
            amounts[(day, currency)] = amounts.get((day, currency), 0) + int(approved)
        elif status == "EXPIRED":
            c["expired"] += 1
        elif status in ("SHIPPED", "SUBMITTED"):
            c["pending"] += 1
    return counts, amounts


def _assert_view_equals_the_ledger(view: dict, ledger_db: Path, mid: str) -> None:
    """The Flex view's recovery numbers (served from the merchant summary) equal the ledger's own."""
    counts, amounts = _ledger_by_day(ledger_db, mid)
    assert counts, "the demo shipped nothing"
    shown: dict[str, dict[str, int]] = {}
    shown_amounts: dict[tuple[str, str], int] = {}
    for row in view["days"]:
        c = shown.setdefault(row["business_date"], {"sent": 0, "rescued": 0, "expired": 0, "pending": 0})
        c["sent"] += row["declines_sent"]
        c["rescued"] += row["rescued_count"]
        c["expired"] += row["expired"]
        c["pending"] += row["pending"]
        if row["rescued_count"]:
            shown_amounts[(row["business_date"], row["currency"])] = row["rescued_amount_minor"]
    assert shown == counts, (shown, counts)
    assert shown_amounts == amounts, (shown_amounts, amounts)
    assert sum(c["rescued"] + c["expired"] for c in counts.values()) > 0  # the demo settled some orders
    assert view["errors"] == [], view["errors"]


def test_launcher_serves_the_ui_on_loopback_and_stops_everything_on_ctrl_c(tmp_path: Path):
    """
    The printed URL and password file, 127.0.0.1 only, stored + testable connections, the Flex view's
    numbers equal to the ledger's on the demo data once the demo's runs are done, Ctrl-C stops all.
    """
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
        started = " ".join(_cmdline(c) for c in children)
        for component in ("api_server", "scheduler", "dag-processor", "triggerer", "flex_provider.sandbox serve"):
            assert component in started, component  # separate processes, not `airflow standalone`
        _wait_for(log, r"Demo runs done", proc, 420)
        overview = httpx.get(f"http://127.0.0.1:{port}/flex-ui/api/overview", headers=headers, timeout=30)
        assert overview.status_code == 200, overview.text[:500]
        _assert_view_equals_the_ledger(overview.json(), work / "ledger.db", sandbox["mid"])
        proc.send_signal(signal.SIGINT)  # Ctrl-C while the launcher keeps the UI up
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
