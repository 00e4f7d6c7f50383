"""
DAG-parse bench: import time of each DAG file in ``dags/`` against its Airflow floor, in the same run.

The floor of a DAG file is the same file with the provider's imports removed: every ``flex_provider``
name it imports is replaced by a stand-in built on Airflow's own base class (an operator name by a
``BaseOperator`` subclass taking the same keyword arguments as templated fields, so XComArgs wire the
same dependencies; a sensor by ``BaseSensorOperator``; a notifier by ``BaseNotifier``; a trigger by
``BaseEventTrigger``; an asset constant by an ``Asset``), and the rest of the file (DAG, Params,
``@task``, mapping, markers) runs unchanged. So the floor is what Airflow alone costs for the same
constructs, and ours / floor is the provider's overhead at parse time (target <= 1.1x per file).

Each measurement is a fresh interpreter that has already imported ``airflow.sdk`` (as the dag-processor
has) and then times ``exec_module`` of one file; every file and its floor are measured ``--repeat``
times, interleaved, after one warm-up round that writes the bytecode of the provider's modules to a
private pycache (a deployment has it: pip compiles on install). The ratio compares the fastest run of
each side: on a shared machine the slower runs measure the other processes' load, not the file (the
medians are in the details). Run: ``.venv/bin/python bench/dag_parse.py`` (default 7
repeats; ``--smoke``: 2).
"""

from __future__ import annotations

import ast
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REPO, BenchResult, airflow_env, base_parser, log, report, run_child_json, size_of

TARGET = 1.1
PROVIDER = "flex_provider"

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
dags = {v.dag_id: sorted((t.task_id, tuple(sorted(t.upstream_task_ids))) for t in v.tasks)
        for v in vars(module).values() if isinstance(v, DAG)}
print(json.dumps({"import_s": elapsed, "dags": dags}))
"""

#: Stand-ins for the provider's plain functions the sample DAGs call (same shape, Airflow types only).
FUNCTION_STANDINS = {
    "counts_to_outlets": "def counts_to_outlets(context, result):\n    return None\n",
    "watched": "def watched(asset, watchers):\n    return Asset(name=asset.name, watchers=watchers)\n",
}
_BASES = (
    ("Sensor", "BaseSensorOperator", "from airflow.sdk import BaseSensorOperator"),
    ("Operator", "BaseOperator", "from airflow.sdk import BaseOperator"),
    ("Notifier", "BaseNotifier", "from airflow.sdk import BaseNotifier"),
    ("Trigger", "BaseEventTrigger", "from airflow.triggers.base import BaseEventTrigger"),
    # Airflow takes custom timetables only as subclasses of its core ones: the floor pays that import too.
    ("Timetable", "CronDataIntervalTimetable", "from airflow.timetables.interval import CronDataIntervalTimetable"),
)


def _keywords_by_name(tree: ast.Module, names: set[str]) -> dict[str, set[str]]:
    """Keyword arguments each provider name is called with (``X(...)``, ``X.partial(...).expand(...)``)."""
    found: dict[str, set[str]] = {n: set() for n in names}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func, chain = node.func, []
        while isinstance(func, (ast.Attribute, ast.Call)):
            if isinstance(func, ast.Attribute):
                chain.append(func.attr)
                func = func.value
            else:
                func = func.func
        if isinstance(func, ast.Name) and func.id in names:
            found[func.id] |= {k.arg for k in node.keywords if k.arg}
            if chain and chain[0] == "expand":  # X.partial(...).expand(...): the partial's keywords too
                inner = node.func.value  # type: ignore[attr-defined]
                found[func.id] |= {k.arg for k in inner.keywords if k.arg}
    return found


def _standin(name: str, keywords: set[str]) -> tuple[str, str]:
    """Source of the stand-in for one provider name, and the Airflow import it needs."""
    if name in FUNCTION_STANDINS:
        return FUNCTION_STANDINS[name], "from airflow.sdk import Asset"
    if name.isupper():
        return f"{name} = Asset(name={name.lower()!r})\n", "from airflow.sdk import Asset"
    for suffix, base, import_line in _BASES:
        if name.endswith(suffix):
            break
    else:
        raise ValueError(f"no stand-in rule for provider name {name!r}: add one to bench/dag_parse.py")
    if base == "BaseEventTrigger":
        body = (
            f"class {name}(BaseEventTrigger):\n"
            "    def __init__(self, **kwargs):\n        super().__init__()\n        self.kwargs = kwargs\n"
            "    def serialize(self):\n        return (type(self).__qualname__, self.kwargs)\n"
            "    async def run(self):\n        yield None\n"
        )
        return body, import_line
    if base == "CronDataIntervalTimetable":
        return f"class {name}(CronDataIntervalTimetable):\n    pass\n", import_line
    if base == "BaseNotifier":
        own = sorted(keywords)
        args = "".join(f"{k}=None, " for k in own)
        sets = "".join(f"        self.{k} = {k}\n" for k in own)
        body = (
            f"class {name}(BaseNotifier):\n    template_fields = {tuple(own)!r}\n"
            f"    def __init__(self, {args}**kwargs):\n        super().__init__(**kwargs)\n{sets}"
            "    def notify(self, context):\n        return None\n"
        )
        return body, import_line
    import inspect

    from airflow.sdk import BaseOperator

    base_args = set(inspect.signature(BaseOperator.__init__).parameters)
    own = sorted(keywords - base_args)
    args = "".join(f"{k}=None, " for k in own)
    sets = "".join(f"        self.{k} = {k}\n" for k in own)
    body = (
        f"class {name}({base}):\n    template_fields = {tuple(own)!r}\n"
        f"    def __init__(self, {args}**kwargs):\n        super().__init__(**kwargs)\n{sets}"
        "    def execute(self, context):\n        return None\n"
    )
    if base == "BaseSensorOperator":
        body += "    def poke(self, context):\n        return True\n"
    return body, import_line


def airflow_floor(path: Path) -> str:
    """The DAG file with the provider's imports replaced by stand-ins on Airflow's own classes."""
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    kept: list[ast.stmt] = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == PROVIDER:
            names |= {a.asname or a.name for a in node.names}
        elif isinstance(node, ast.Import) and any(a.name.split(".")[0] == PROVIDER for a in node.names):
            raise ValueError(f"{path.name}: 'import {PROVIDER}...' is not handled; use 'from ... import'")
        else:
            kept.append(node)
    keywords = _keywords_by_name(tree, names)
    imports: list[str] = []
    standins: list[str] = []
    for name in sorted(names, key=lambda n: (not n.isupper(), n)):  # assets first (watched uses Asset)
        body, import_line = _standin(name, keywords[name])
        if import_line not in imports:
            imports.append(import_line)
        standins.append(body)
    future = [n for n in kept if isinstance(n, ast.ImportFrom) and n.module == "__future__"]
    rest = [n for n in kept if n not in future]
    head = [ast.unparse(n) for n in future] + imports
    return "\n".join([*head, *standins, ast.unparse(ast.Module(body=rest, type_ignores=[]))]) + "\n"


def measure_file(path: Path, env: dict[str, str]) -> dict[str, object]:
    return run_child_json(["-c", CHILD, str(path)], env=env, timeout=300)


def main() -> int:
    parser = base_parser("DAG parse bench (each DAG file against its Airflow floor)", 7, 2, "--repeat")
    parser.add_argument("--dags-dir", default=str(REPO / "dags"))
    args = parser.parse_args()
    repeat = size_of(args)
    files = sorted(p for p in Path(args.dags_dir).glob("*.py") if not p.name.startswith("_"))
    with tempfile.TemporaryDirectory(prefix="flex-bench-dag-") as tmp:
        env = airflow_env(Path(tmp))
        env["PYTHONPATH"] = f"{args.dags_dir}:{env['PYTHONPATH']}"
        # As in a deployment, the provider's modules have bytecode (pip compiles a wheel on install): a
        # private pycache, filled by one discarded warm-up round, instead of compiling them every time.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        floors = {}
        for p in files:
            floors[p.name] = Path(tmp) / f"floor_{p.name}"
            floors[p.name].write_text(airflow_floor(p))
        timings: dict[str, list[float]] = {p.name: [] for p in files}
        floor_times: dict[str, list[float]] = {p.name: [] for p in files}
        for p in files:  # warm-up
            measure_file(p, env)
            measure_file(floors[p.name], env)
        for _ in range(repeat):
            for p in files:
                ours = measure_file(p, env)
                floor = measure_file(floors[p.name], env)
                # Same constructs: the floor must build the same DAGs, tasks and dependencies.
                assert ours["dags"] == floor["dags"], (p.name, ours["dags"], floor["dags"])
                timings[p.name].append(float(ours["import_s"]))
                floor_times[p.name].append(float(floor["import_s"]))
    per_file = {name: min(ts) for name, ts in timings.items()}
    floor_ms = {name: min(ts) for name, ts in floor_times.items()}
    log(
        "dag_parse: "
        + json.dumps(
            {
                k: {"ours_ms": round(v * 1000, 1), "floor_ms": round(floor_ms[k] * 1000, 1)}
                for k, v in per_file.items()
            }
        )
    )
    results = [
        BenchResult(
            bench=f"dag_parse:{name}",
            size=f"{repeat} runs",
            ours=per_file[name] * 1000,
            baseline=floor_ms[name] * 1000,
            unit="ms",
            target=TARGET,
            extra={
                "provider_share_ms": round((per_file[name] - floor_ms[name]) * 1000, 1),
                "median_ms": round(statistics.median(timings[name]) * 1000, 1),
                "floor_median_ms": round(statistics.median(floor_times[name]) * 1000, 1),
            },
        )
        for name in per_file
    ]
    if per_file:
        worst = max(per_file, key=lambda n: per_file[n] / floor_ms[n])
        results.append(
            BenchResult(
                bench="dag_parse",
                size=f"{len(files)} DAG files, worst ratio {worst}",
                ours=per_file[worst] * 1000,
                baseline=floor_ms[worst] * 1000,
                unit="ms",
                target=TARGET,
            )
        )
    report(results, args.json_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
