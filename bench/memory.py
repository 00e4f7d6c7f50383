"""
Memory bench: peak RSS of the ship task (``bench/ship.py``'s "ours", a fresh child process each) at N
rows against the same at N/10 rows. Flat memory means the ratio stays near 1.

Same PostgreSQL data (N orders; the small run reads the first N/10 of the same extract), same sshd; the
ledger and the remote folder are emptied between the two runs. Run:
``.venv/bin/python bench/memory.py --rows 1000000`` (``--smoke``: 4000 vs 400).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    BenchResult,
    base_parser,
    log,
    report,
    size_of,
)
from bench.ship import loaded_servers, reset_ledger, run_ours

TARGET = 1.2


def main() -> int:
    args = base_parser(
        "Memory bench (peak RSS of the ship task, N vs N/10 rows)", 1_000_000, 4_000
    ).parse_args()
    n = size_of(args)
    small_n = max(1, n // 10)
    with (
        loaded_servers(n, "memory") as (db, sshd, sandbox),
        tempfile.TemporaryDirectory(prefix="flex-bench-mem-") as tmp,
    ):
        small = run_ours(db, sshd, sandbox, Path(tmp) / "small", limit=small_n, two_task=True)  # the DAG's path
        log(f"memory small ({small_n}): {small}")
        reset_ledger(db)
        sshd.clear("inbound")
        large = run_ours(db, sshd, sandbox, Path(tmp) / "large", two_task=True)
        log(f"memory large ({n}): {large}")
    report(
        [
            BenchResult(
                bench="memory",
                size=f"ship peak RSS {n} vs {small_n} rows",
                ours=large["peak_rss_mb"],
                baseline=small["peak_rss_mb"],
                unit="MiB",
                target=TARGET,
                extra={"large_wall_s": round(large["wall_s"], 1), "small_wall_s": round(small["wall_s"], 1)},
            )
        ],
        args.json_out,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
