"""The sample DAGs import cleanly and quickly (the dag-processor parses them again and again)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"
DAG_FILES = sorted(p.name for p in DAGS.glob("*.py"))
EXPECTED = {"flex_mit_daily", "flex_transmit_daily", "flex_reconcile", "flex_order_action", "flex_replay"}


def test_dagbag_has_no_import_errors() -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    assert EXPECTED <= set(bag.dag_ids)
    for dag_id in EXPECTED:
        dag = bag.dags[dag_id]
        assert dag.catchup is False
        assert "flex" in dag.tags


@pytest.mark.parametrize("name", DAG_FILES)
def test_dag_file_imports_fast_and_light(name: str) -> None:
    """Import one DAG file in a fresh process after airflow.sdk: well under a second, no pandas/numpy."""
    code = f"""
import json, sys, time, importlib.util
import airflow.sdk, airflow.sdk.definitions.dag  # the dag-processor has these loaded already
start = time.perf_counter()
spec = importlib.util.spec_from_file_location("dagfile", {str(DAGS / name)!r})
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
print(json.dumps({{"seconds": time.perf_counter() - start,
                  "heavy": sorted(m for m in ("pandas", "numpy", "httpx", "paramiko") if m in sys.modules)}}))
"""
    env = {**os.environ, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    out = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120, env=env
    )
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["seconds"] < 1.0, result
    assert "pandas" not in result["heavy"], result
    assert "numpy" not in result["heavy"], result


def test_anything_uploaded_fails_when_a_written_file_was_not_shipped(tmp_path: Path, monkeypatch) -> None:
    """The guard after the ship tasks: a file of the run not uploaded fails the run instead of a green one."""
    from datetime import date

    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.exceptions import AirflowFailException

    from flex_provider.batch.ledger import FlexLedger

    monkeypatch.setenv("AIRFLOW_CONN_FLEX_LEDGER_DB", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "l.db")}))
    check = DagBag(dag_folder=str(DAGS / "flex_mit_daily.py")).dags["flex_mit_daily"].get_task("anything_uploaded")
    ledger = FlexLedger("flex_ledger_db")
    day, mid = date(2026, 11, 24), "m"
    for name in ("evaluate_m_20261124_0001.json", "evaluate_m_20261124_0002.json"):
        ledger.record_file(name, business_date=day, kind="evaluate", mid=mid, rows=1, sha256="s", rows_sha256="r")
    ledger.mark_uploaded("evaluate_m_20261124_0001.json", remote_size=1, uploaded_sha256="s")
    summary = {"business_date": day.isoformat(), "mid": mid,
               "files": ["evaluate_m_20261124_0001.json", "evaluate_m_20261124_0002.json"]}

    with pytest.raises(AirflowFailException, match=r"evaluate_m_20261124_0002\.json"):
        check.python_callable(summary)
    ledger.mark_uploaded("evaluate_m_20261124_0002.json", remote_size=1, uploaded_sha256="s")
    assert check.python_callable(summary) == [
        "ack_evaluate_m_20261124_0001.json", "ack_evaluate_m_20261124_0002.json"]
