"""
Run every bench in sequence and print the collected result table.

``--smoke`` runs each at a tiny size (seconds each; what CI runs). Exits non-zero only when a bench
crashes (non-zero exit or no ``RESULT`` line), never on a missed target. ``--only ship,reconcile``
runs a subset; ``--size bench=N`` overrides one bench's size.
Run: ``.venv/bin/python bench/run_all.py [--smoke]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
BENCHES = ["ship", "reconcile", "webhook_ingest", "api_calls", "dag_parse", "memory"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (CI smoke test)")
    parser.add_argument("--only", default="", help="comma-separated subset of " + ",".join(BENCHES))
    parser.add_argument("--size", action="append", default=[], help="bench=N (repeatable)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per bench")
    parser.add_argument("--json-out", default=None, help="also append every result as JSON lines here")
    args = parser.parse_args()
    chosen = [b for b in args.only.split(",") if b] or BENCHES
    unknown = set(chosen) - set(BENCHES)
    if unknown:
        parser.error(f"unknown bench(es): {sorted(unknown)}")
    sizes = dict(s.split("=", 1) for s in args.size)
    tmp_dir = None if args.json_out else tempfile.mkdtemp(prefix="flex-bench-")
    json_out = args.json_out or os.path.join(str(tmp_dir), "results.jsonl")
    crashed: list[str] = []
    env = {**os.environ, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    for name in chosen:
        cmd = [sys.executable, str(BENCH_DIR / f"{name}.py"), "--json-out", json_out]
        if args.smoke:
            cmd.append("--smoke")
        if name in sizes:
            cmd += ["--n", sizes[name]]
        print(f"==> {' '.join(cmd[1:])}", flush=True)
        started = time.perf_counter()
        try:
            proc = subprocess.run(
                cmd, check=False, env=env, timeout=args.timeout, capture_output=True, text=True
            )
        except subprocess.TimeoutExpired as exc:
            print(f"CRASH | {name} | timed out after {args.timeout:.0f}s", flush=True)
            sys.stderr.write((exc.stderr or b"")[-3000:].decode() if isinstance(exc.stderr, bytes) else "")
            crashed.append(name)
            continue
        sys.stdout.write(proc.stdout)
        sys.stdout.flush()
        ok = proc.returncode == 0 and f"RESULT | {name}" in proc.stdout
        if not ok:
            print(f"CRASH | {name} | exit {proc.returncode}", flush=True)
            sys.stderr.write(proc.stderr[-6000:])
            crashed.append(name)
        print(f"    ({name} took {time.perf_counter() - started:.1f}s)", flush=True)
    print("\n== summary ==")
    print("bench | size | ours | baseline | ratio | target | pass/fail")
    if os.path.exists(json_out):
        with open(json_out, encoding="utf-8") as fh:
            for line in fh:
                r = json.loads(line)
                if ":" in r["bench"]:
                    continue  # per-file detail rows of dag_parse
                print(
                    f"{r['bench']} | {r['size']} | {r['ours']:.3f} {r['unit']} | {r['baseline']:.3f} {r['unit']} | "
                    f"{r['ratio']:.2f}x | {r['target_text']} | {'pass' if r['passed'] else 'FAIL'}"
                )
    if tmp_dir is not None:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    if crashed:
        print(f"crashed: {', '.join(crashed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
