"""
DAG-parse bench: import time of each DAG file in ``dags/`` against an empty DAG file.

Each measurement is a fresh interpreter that has already imported ``airflow.sdk`` (as the dag-processor
has) and then times ``exec_module`` of one file, so what the DAG file pulls in (the provider's
operators, models, hooks) counts, and Airflow's own start-up does not. Every file is measured
``--repeat`` times, interleaved with the empty file, and the median is kept. The ratio line uses the
slowest DAG file. Each file's details also give its "Airflow floor": an empty DAG with the same
``airflow`` imports (timetables, ``@task``, assets), i.e. what Airflow alone costs that file; the rest is
the provider's share. Run: ``.venv/bin/python bench/dag_parse.py --repeat 7`` (``--smoke``: 2 repeats).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REPO, BenchResult, airflow_env, base_parser, log, report, run_child_json, size_of

TARGET = 1.2

EMPTY_DAG = """\
from __future__ import annotations

from airflow.sdk import DAG

with DAG(dag_id="empty", schedule=None):
    pass
"""

CHILD = r"""
import importlib.util, json, sys, time
import airflow.sdk  # the dag-processor has it already
path = sys.argv[1]
spec = importlib.util.spec_from_file_location("bench_dag_module", path)
module = importlib.util.module_from_spec(spec)
t0 = time.perf_counter()
spec.loader.exec_module(module)
elapsed = time.perf_counter() - t0
from airflow.sdk import DAG
dags = [v.dag_id for v in vars(module).values() if isinstance(v, DAG)]
print(json.dumps({"import_s": elapsed, "dags": dags}))
"""


def airflow_floor(path: Path) -> str:
    """An empty DAG file with the same Airflow imports as ``path``: what Airflow alone costs that file."""
    import ast

    tree = ast.parse(path.read_text())
    imports = [
        ast.unparse(node)
        for node in tree.body
        if (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "airflow")
        or (isinstance(node, ast.Import) and any(a.name.split(".")[0] == "airflow" for a in node.names))
    ]
    return "\n".join(["from __future__ import annotations", *imports, EMPTY_DAG.split("\n", 2)[2]])


def measure_file(path: Path, env: dict[str, str]) -> dict[str, object]:
    return run_child_json(["-c", CHILD, str(path)], env=env, timeout=300)


def main() -> int:
    parser = base_parser("DAG parse bench (import time per DAG file)", 7, 2, "--repeat")
    parser.add_argument("--dags-dir", default=str(REPO / "dags"))
    args = parser.parse_args()
    repeat = size_of(args)
    files = sorted(p for p in Path(args.dags_dir).glob("*.py") if not p.name.startswith("_"))
    with tempfile.TemporaryDirectory(prefix="flex-bench-dag-") as tmp:
        env = airflow_env(Path(tmp))
        env["PYTHONPATH"] = f"{args.dags_dir}:{env['PYTHONPATH']}"
        empty = Path(tmp) / "empty_dag.py"
        empty.write_text(EMPTY_DAG)
        floors = {}
        for p in files:
            floors[p.name] = Path(tmp) / f"floor_{p.name}"
            floors[p.name].write_text(airflow_floor(p))
        timings: dict[str, list[float]] = {p.name: [] for p in files}
        floor_times: dict[str, list[float]] = {p.name: [] for p in files}
        empty_times: list[float] = []
        dag_ids: dict[str, list[str]] = {}
        for _ in range(repeat):
            empty_times.append(float(measure_file(empty, env)["import_s"]))
            for p in files:
                data = measure_file(p, env)
                timings[p.name].append(float(data["import_s"]))
                floor_times[p.name].append(float(measure_file(floors[p.name], env)["import_s"]))
                dag_ids[p.name] = list(data["dags"])  # type: ignore[arg-type]
    base = statistics.median(empty_times)
    per_file = {name: statistics.median(ts) for name, ts in timings.items()}
    floor = {name: statistics.median(ts) for name, ts in floor_times.items()}
    log(
        f"dag_parse: empty {base * 1000:.1f} ms, files {json.dumps({k: round(v * 1000, 1) for k, v in per_file.items()})}"
    )
    results = [
        BenchResult(
            bench=f"dag_parse:{name}",
            size=f"{repeat} runs, dags {dag_ids.get(name)}",
            ours=per_file[name] * 1000,
            baseline=base * 1000,
            unit="ms",
            target=TARGET,
            extra={
                "airflow_floor_ms": round(floor[name] * 1000, 1),
                "provider_share_ms": round((per_file[name] - floor[name]) * 1000, 1),
            },
        )
        for name in per_file
    ]
    if per_file:
        worst = max(per_file, key=per_file.__getitem__)
        results.append(
            BenchResult(
                bench="dag_parse",
                size=f"{len(files)} DAG files, slowest {worst}",
                ours=per_file[worst] * 1000,
                baseline=base * 1000,
                unit="ms",
                target=TARGET,
            )
        )
    else:
        log("dag_parse: no DAG files found; the empty file against itself")
        results.append(
            BenchResult(
                bench="dag_parse",
                size="0 DAG files (none yet)",
                ours=base * 1000,
                baseline=base * 1000,
                unit="ms",
                target=TARGET,
            )
        )
    report(results, args.json_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
