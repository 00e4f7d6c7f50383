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
EXPECTED = {
    "flex_mit_daily",
    "flex_mit_daily_fanout",
    "flex_transmit_daily",
    "flex_reconcile",
    "flex_order_action",
    "flex_replay",
}


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


@pytest.mark.parametrize("name", DAG_FILES)
def test_dag_files_read_no_environment_and_build_no_jinja_by_concatenation(name: str) -> None:
    """Sample DAGs are literal: settings come from connections, [flex] config and Params."""
    import ast

    tree = ast.parse((DAGS / name).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            assert node.attr not in ("environ", "getenv"), f"{name}:{node.lineno} reads the environment"
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            parts = [n for n in (node.left, node.right) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
            assert not any("{{" in p.value or "}}" in p.value for p in parts), f"{name}:{node.lineno} builds Jinja"


def test_howto_markers_pair_up_and_the_docs_name_each() -> None:
    """Every ``# [START howto_...]`` has its ``# [END ...]`` after it in the same file; docs/dags.md names it."""
    import re

    docs = (DAGS.parent / "docs" / "dags.md").read_text()
    found = []
    for name in DAG_FILES:
        text = (DAGS / name).read_text()
        for marker in re.findall(r"# \[START (howto_\w+)\]", text):
            assert text.index(f"# [START {marker}]") < text.index(f"# [END {marker}]"), (name, marker)
            assert f"`{marker}`" in docs, f"docs/dags.md does not name {marker}"
            found.append(marker)
    assert len(found) == len(set(found)) >= 8
