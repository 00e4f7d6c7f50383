"""
A missing server fails a CI run and is a skip with its reason elsewhere (``tests/servers.py``).

One pytest subprocess a mode (``CI=true`` or not) runs a one-test file a server, each asking for the real
fixture pointed at something that is not there: a closed port for PostgreSQL and Redis, a path with no sshd.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CASES = {
    "postgres": (
        "def test_needs_postgres(pg_database):\n    pass\n",
        lambda port: {"FLEX_TEST_PG_PORT": str(port)},
        "PostgreSQL not available at 127.0.0.1:{port}",
    ),
    "webhook-postgres": (
        "def test_needs_webhook_postgres(webhook_pg_factory):\n    pass\n",
        lambda port: {"FLEX_TEST_PG_DSN": f"postgresql://postgres@127.0.0.1:{port}/postgres"},
        "PostgreSQL not reachable at postgresql://postgres@127.0.0.1:{port}/postgres",
    ),
    "sshd": (
        "def test_needs_sshd(sshd):\n    pass\n",
        lambda port: {"FLEX_TEST_SSHD": f"/nonexistent/sshd-{port}"},
        "needs /nonexistent/sshd-{port}",
    ),
    "redis": (
        ("from tests.servers import require_redis\n\n"
        "def test_needs_redis():\n    require_redis()\n"),
        lambda port: {"FLEX_TEST_REDIS_URL": f"redis://127.0.0.1:{port}/0"},
        "Redis not reachable at redis://127.0.0.1:{port}/0",
    ),
}


def _run(tmp_path: Path, ci: bool) -> tuple[subprocess.CompletedProcess[str], dict[str, int]]:
    """One pytest subprocess with one test a server, each pointed at nothing; returns its output and ports."""
    ports = {server: _closed_port() for server in CASES}
    env: dict[str, str] = {}
    for server, (source, env_for, _reason) in CASES.items():
        (tmp_path / f"test_needs_{server.replace('-', '_')}.py").write_text(source)
        env.update(env_for(ports[server]))
    plugins = ["tests.fixtures.postgres", "tests.fixtures.webhooks", "tests.fixtures.sshd"]
    args = [sys.executable, "-m", "pytest", str(tmp_path), "-v", "-rsfE", "-p", "no:cacheprovider",
            "--rootdir", str(tmp_path)]
    for plugin in plugins:
        args += ["-p", plugin]
    clean = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    if ci:
        env["CI"] = "true"
    out = subprocess.run(args, cwd=tmp_path, env={**clean, "PYTHONPATH": str(REPO), **env},
                         capture_output=True, text=True, timeout=120, check=False)
    return out, ports


@pytest.fixture(scope="module")
def under_ci(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], dict[str, int]]:
    return _run(tmp_path_factory.mktemp("ci"), ci=True)


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], dict[str, int]]:
    return _run(tmp_path_factory.mktemp("local"), ci=False)


def _status_of(text: str, server: str) -> str:
    """The status word pytest ``-v`` printed for the one test of ``server``."""
    name = f"test_needs_{server.replace('-', '_')}"
    node = f"{name}.py::{name} "
    for line in text.splitlines():
        if line.startswith(node):
            return line[len(node):].split()[0]
    return ""


@pytest.mark.parametrize("server", list(CASES))
def test_missing_server_fails_under_ci(under_ci, server: str) -> None:
    out, ports = under_ci
    text = out.stdout + out.stderr
    assert out.returncode == 1, text  # 1 = tests failed or errored (a skip-only run exits 0)
    assert CASES[server][2].format(port=ports[server]) in text, text  # each port is its server's own
    assert "CI=true: a missing server fails the run" in text
    assert _status_of(out.stdout, server) in ("ERROR", "FAILED"), text  # set-up error, or in-test failure
    assert "SKIPPED" not in text, text


@pytest.mark.parametrize("server", list(CASES))
def test_missing_server_is_a_skip_with_its_reason_elsewhere(elsewhere, server: str) -> None:
    out, ports = elsewhere
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    assert _status_of(out.stdout, server) == "SKIPPED", text
    assert f"{len(CASES)} skipped" in text, text
    assert CASES[server][2].format(port=ports[server]) in text, text  # -rs prints the reason
