"""Smoke test of the benchmarks: ``bench/run_all.py --smoke`` runs every bench at a tiny size.

Not a timed test: it asserts only that every bench ran (exit 0) and printed its ratio line; a missed
target is a figure for docs/benchmarks.md, never a test failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCHES = ("ship", "reconcile", "webhook_ingest", "api_calls", "dag_parse", "memory")
RATIO_LINE = re.compile(
    r"^RESULT \| (?P<bench>[\w:.-]+) \| .+ \| [\d.]+ \S+ \| [\d.]+ \S+ \| (?P<ratio>[\d.]+|inf)x \| [<>]= [\d.]+x \| (pass|FAIL)$",
    re.MULTILINE,
)


def _missing_prerequisites() -> list[str]:
    missing = [tool for tool in ("psql", "split", "sftp", "ssh-keygen") if shutil.which(tool) is None]
    if not os.path.exists("/usr/sbin/sshd"):
        missing.append("/usr/sbin/sshd")
    if os.geteuid() != 0:
        missing.append("root (sshd ChrootDirectory)")
    try:
        import psycopg2

        psycopg2.connect(
            host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=3
        ).close()
    except Exception:  # noqa: BLE001 - no server: a private cluster needs initdb
        if shutil.which("initdb") is None:
            missing.append("PostgreSQL on 127.0.0.1:5432 or initdb")
    return missing


@pytest.mark.slow
def test_run_all_smoke() -> None:
    missing = _missing_prerequisites()
    if missing:
        pytest.skip(f"benchmarks need: {', '.join(missing)}")
    env = {**os.environ, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run_all.py"), "--smoke", "--timeout", "240"],
        check=False,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, f"run_all --smoke failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
    printed = {m["bench"] for m in RATIO_LINE.finditer(proc.stdout)}
    for bench in BENCHES:
        assert bench in printed, f"{bench} printed no ratio line:\n{proc.stdout[-4000:]}"
