"""
A missing server fails a CI run and is a skip with its reason elsewhere (``tests/servers.py``).

Each case runs pytest in a subprocess on a one-test file that asks for the real fixture, with the fixture
pointed at something that is not there: a closed port for PostgreSQL and Redis, a path with no sshd.
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
        "def test_needs_postgres(webhook_pg_factory):\n    pass\n",
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


def _run(tmp_path: Path, source: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    test_file = tmp_path / "test_needs_a_server.py"
    test_file.write_text(source)
    plugins = ["tests.fixtures.postgres", "tests.fixtures.webhooks", "tests.fixtures.sshd"]
    args = [sys.executable, "-m", "pytest", str(test_file), "-rs", "-q", "-p", "no:cacheprovider",
            "--rootdir", str(tmp_path)]
    for plugin in plugins:
        args += ["-p", plugin]
    clean = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    return subprocess.run(args, cwd=tmp_path, env={**clean, "PYTHONPATH": str(REPO), **env},
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("server", list(CASES))
def test_missing_server_fails_under_ci(tmp_path: Path, server: str) -> None:
    source, env_for, reason = CASES[server]
    port = _closed_port()
    out = _run(tmp_path, source, {**env_for(port), "CI": "true"})
    text = out.stdout + out.stderr
    assert out.returncode == 1, text  # 1 = tests failed or errored (a skip-only run exits 0)
    assert reason.format(port=port) in text, text
    assert "CI=true: a missing server fails the run" in text
    assert "1 error" in text or "1 failed" in text, text  # fixture set-up error, or in-test failure
    assert "skipped" not in text


@pytest.mark.parametrize("server", list(CASES))
def test_missing_server_is_a_skip_with_its_reason_elsewhere(tmp_path: Path, server: str) -> None:
    source, env_for, reason = CASES[server]
    port = _closed_port()
    out = _run(tmp_path, source, env_for(port))
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    assert "1 skipped" in text, text
    assert reason.format(port=port) in text, text  # -rs prints the reason
