"""
The end-to-end demo (``python -m flex_provider.demo``, ``make demo``): everything local, no accounts.

1. starts the Flex sandbox (API + SFTP) as a subprocess in ``.demo/sandbox``;
2. creates a SQLite merchant DB (``.demo/merchant.db``) with a few business days of demo data and a
   SQLite ledger (``.demo/ledger.db``);
3. sets ``AIRFLOW_HOME=.demo/airflow``, ``AIRFLOW__CORE__DAGS_FOLDER=dags`` and the ``AIRFLOW_CONN_*``
   variables, runs ``airflow db migrate``;
4. runs ``flex_mit_daily`` for each day with ``airflow dags test``;
5. fast-forwards the sandbox clock past the rescue window and runs ``flex_reconcile``;
6. prints a summary; ``make ui`` (:mod:`flex_provider.ui.launch`) shows the same flow in the Airflow UI.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flex_provider.money import format_major

REPO = Path(__file__).resolve().parents[1]


def _bin(name: str) -> str:
    """An executable next to the running interpreter (the venv), else on PATH."""
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else name


class Sandbox:
    """The sandbox subprocess (stopped with SIGTERM)."""

    def __init__(self, data_dir: Path, *extra: str) -> None:
        self.data_dir = data_dir
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}

    def start(self, timeout: float = 60.0) -> Sandbox:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        info = self.data_dir / "sandbox.json"
        info.unlink(missing_ok=True)
        log = (self.data_dir / "sandbox.log").open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flex_provider.sandbox",
                "serve",
                "--data-dir",
                str(self.data_dir),
                *self.extra,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"sandbox exited ({self.proc.returncode}); see {self.data_dir / 'sandbox.log'}"
                )
            if info.exists():
                with contextlib.suppress(ValueError):  # half-written: read it again next round
                    self.info = json.loads(info.read_text())
                    return self
            time.sleep(0.1)
        self.stop()
        raise TimeoutError("sandbox did not start")

    def admin(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        import httpx

        r = httpx.request(method, self.info["admin_url"] + path, json=body, timeout=30)
        r.raise_for_status()
        return r.json()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


def airflow_env(
    home: Path, sandbox_info: dict[str, Any], merchant_db: Path, ledger_db: Path, *, expiry_days: int = 21
) -> dict[str, str]:
    """
    Environment for every Airflow command of the demo (and the printed standalone command).

    Connections as ``AIRFLOW_CONN_*``, the provider's ``[flex]`` settings as ``AIRFLOW__FLEX__*``: Airflow's
    own configuration mechanism, which the DAGs' operators read.
    """
    conns = sandbox_info["airflow_connections"]
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW_CONN_FLEX_DEFAULT": conns["flex_default"],
        "AIRFLOW_CONN_FLEX_SFTP_DEFAULT": conns["flex_sftp_default"],
        "AIRFLOW_CONN_FLEX_MERCHANT_DB": json.dumps({"conn_type": "sqlite", "host": str(merchant_db)}),
        "AIRFLOW_CONN_FLEX_LEDGER_DB": json.dumps({"conn_type": "sqlite", "host": str(ledger_db)}),
        "AIRFLOW__FLEX__BATCH_DIR": str(home.parent / "batches"),
        "AIRFLOW__FLEX__ACK_POKE_INTERVAL": "2",
        "AIRFLOW__FLEX__ACK_TIMEOUT": "300",
        "AIRFLOW__FLEX__EXPIRY_DAYS": str(expiry_days),
    }


def run_airflow(args: Sequence[str], env: dict[str, str], log_path: Path, timeout: float = 600) -> None:
    """Run one ``airflow`` command (output to ``log_path``); raise with the log tail on failure."""
    full_env = {**os.environ, **env, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    with log_path.open("ab") as log:
        log.write(f"\n$ airflow {' '.join(args)}\n".encode())
        log.flush()
        proc = subprocess.run(
            [_bin("airflow"), *args],
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
        )
    if proc.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-40:])
        raise RuntimeError(f"airflow {' '.join(args)} failed ({proc.returncode}):\n{tail}")


def merchant_counts(merchant_db: Path) -> dict[str, Any]:
    """Counts from the merchant DB and its recovery summary."""
    import sqlite3

    with sqlite3.connect(merchant_db) as db:
        status = dict(db.execute("SELECT status, COUNT(*) FROM orders GROUP BY status").fetchall())
        rejects = dict(
            db.execute(
                "SELECT flex_reject_reason, COUNT(*) FROM orders WHERE flex_reject_reason IS NOT NULL "
                "AND flex_sent_at IS NULL GROUP BY 1"
            ).fetchall()
        )
        summary = db.execute(
            "SELECT COALESCE(SUM(declines_sent),0), COALESCE(SUM(rescued_count),0), "
            "COALESCE(SUM(expired_count),0), COALESCE(SUM(pending),0) FROM flex_recovery_summary"
        ).fetchone()
        amounts = db.execute(
            "SELECT currency, SUM(rescued_amount_cents) FROM flex_recovery_summary GROUP BY currency "
            "HAVING SUM(rescued_amount_cents) > 0 ORDER BY currency"
        ).fetchall()
    sent, rescued, expired, pending = summary
    return {
        "orders_by_status": status,
        "rejected_by_reason": rejects,
        "shipped": sent,
        "approved": rescued,
        "recovered_minor": {str(cur): int(minor) for cur, minor in amounts},
        "expired": expired,
        "pending": pending,
        "recovery_rate": round(rescued / (rescued + expired), 4) if rescued + expired else None,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo."""
    parser = argparse.ArgumentParser(
        prog="python -m flex_provider.demo", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--dir", default=".demo", help="working folder (default .demo, wiped first)")
    parser.add_argument("--days", type=int, default=3, help="business days to ship (default 3)")
    parser.add_argument("--rows", type=int, default=300, help="declined payments in total (default 300)")
    parser.add_argument("--bad-share", type=float, default=0.04)
    parser.add_argument("--expiry-days", type=int, default=21, help="rescue window in days (default 21)")
    parser.add_argument("--clock-speed", type=float, default=60.0, help="sandbox seconds per real second")
    parser.add_argument("--keep", action="store_true", help="keep an existing --dir instead of wiping it")
    args = parser.parse_args(argv)

    from flex_provider.merchant.generate import generate

    work = Path(args.dir).resolve()
    if work.exists() and not args.keep:
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    home = work / "airflow"
    home.mkdir(exist_ok=True)
    log_path = work / "demo.log"
    merchant_db = work / "merchant.db"
    ledger_db = work / "ledger.db"
    started = time.monotonic()

    def say(msg: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {msg}", flush=True)

    say(f"Starting the Flex sandbox (clock x{args.clock_speed}) in {work / 'sandbox'}")
    sandbox = Sandbox(work / "sandbox", "--clock-speed", str(args.clock_speed)).start()
    try:
        today = datetime.fromisoformat(sandbox.admin("GET", "/clock")["now"].replace("Z", "+00:00")).date()
        last_day = today - timedelta(days=1)
        days = [last_day - timedelta(days=d) for d in range(args.days - 1, -1, -1)]
        gen = generate(
            f"sqlite:///{merchant_db}",
            rows=args.rows,
            days=args.days,
            end_date=last_day,
            bad_share=args.bad_share,
        )
        say(
            f"Merchant DB {merchant_db}: {gen.declines} declines, {gen.approved} approved, bad rows {gen.bad}"
        )
        env = airflow_env(home, sandbox.info, merchant_db, ledger_db, expiry_days=args.expiry_days)
        say("airflow db migrate")
        run_airflow(["db", "migrate"], env, log_path)
        summaries: list[dict[str, Any]] = []
        for day in days:
            say(f"airflow dags test flex_mit_daily (business_date {day})")
            conf = json.dumps({"business_date": day.isoformat()})
            run_airflow(["dags", "test", "flex_mit_daily", "-c", conf], env, log_path)
            manifest = Path(env["AIRFLOW__FLEX__BATCH_DIR"]) / "evaluate" / day.isoformat()
            found = sorted(manifest.glob("manifest_*.json"))
            if found:
                totals = json.loads(found[0].read_text())["totals"]
                summaries.append({"day": day.isoformat(), **totals})
        window = args.expiry_days + 2
        say(f"Fast-forwarding the sandbox clock {window} days (past every rescue window)")
        sandbox.admin("POST", "/clock", {"advance_seconds": window * 86400})
        sandbox.admin("POST", "/settle")
        time.sleep(3)  # result files are written by the sandbox's batch loop
        say("airflow dags test flex_reconcile")
        run_airflow(["dags", "test", "flex_reconcile"], env, log_path)
        counts = merchant_counts(merchant_db)
        extracted = sum(s["extracted"] for s in summaries)
        rejected = sum(s["rejected"] for s in summaries)
        rejects_files = sorted(
            str(p) for p in (Path(env["AIRFLOW__FLEX__BATCH_DIR"]) / "evaluate").glob("*/rejects_*.csv")
        )
        print()
        print("Flex demo summary")
        print(f"  business days       {', '.join(d.isoformat() for d in days)}")
        print(f"  extracted declines  {extracted}")
        print(f"  shipped             {counts['shipped']}")
        print(f"  rejected            {rejected}  {counts['rejected_by_reason']}")
        for path in rejects_files:
            print(f"      rejects file    {path}")
        print(f"  approved (rescued)  {counts['approved']}")
        print(f"  expired             {counts['expired']}")
        print(f"  still pending       {counts['pending']}")
        recovered = ", ".join(f"{format_major(m, c)} {c}" for c, m in counts["recovered_minor"].items())
        print(f"  recovered amount    {recovered or '0'}")
        rate = counts["recovery_rate"]
        print(f"  recovery rate       {rate:.1%}" if rate is not None else "  recovery rate       n/a")
        print(f"  merchant orders     {counts['orders_by_status']}")
        print(f"  log                 {log_path}")
        print()
        print("To see the same flow in the Airflow UI (runs through the scheduler, with task logs, the Flex")
        print("view and connections you can test), run:  make ui   (Ctrl-C stops everything; docs/ui.md)")
        print("The sandbox also serves the demo checkout (SenseJS key + card vaulting, docs/checkout.md) at")
        print("sandbox.json's checkout_url: a card paid there lands in the same merchant DB, token and sense key only.")
        say("done")
        return 0
    finally:
        sandbox.stop()


if __name__ == "__main__":
    raise SystemExit(main())
