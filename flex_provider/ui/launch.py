"""
``make ui`` (``python -m flex_provider.ui.launch``): the demo in the Airflow UI, one command, Ctrl-C stops all.

1. starts the Flex sandbox (API + SFTP + webhook sender) with its webhooks pointed at the api-server's
   receiver (``/flex/webhooks``) and waits for its ``sandbox.json`` before reading any connection;
2. creates the demo merchant DB and ledger (SQLite in ``.demo-ui/``);
3. ``airflow db migrate`` and stores the connections (``flex_default``, ``flex_sftp_default``,
   ``flex_merchant_db``, ``flex_ledger_db``) in the metadata DB, so the Connections page lists them and
   their Test button works (``[core] test_connection = Enabled``);
4. starts api-server (127.0.0.1 only), scheduler, dag-processor and triggerer, configured for the webhook
   receiver (``[flex] ledger_conn_id``) and the Flex view; prints the URL and the admin password file;
5. triggers ``flex_mit_daily`` for each demo day through the scheduler (so every task has its log),
   then moves the sandbox clock past the rescue window and triggers ``flex_reconcile``;
6. keeps running until Ctrl-C (or SIGTERM), then stops every process it started.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import socket
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flex_provider.demo import REPO, Sandbox, merchant_counts
from flex_provider.ui.stack import AirflowStack

DAGS = ("flex_mit_daily", "flex_transmit_daily", "flex_reconcile", "flex_order_action")


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def connections(sandbox_info: dict[str, Any], merchant_db: Path, ledger_db: Path) -> dict[str, dict[str, Any]]:
    """The four connections of the demo, as ``airflow connections import`` reads them."""
    conns = {cid: json.loads(sandbox_info["airflow_connections"][cid]) for cid in ("flex_default", "flex_sftp_default")}
    conns["flex_merchant_db"] = {"conn_type": "sqlite", "host": str(merchant_db)}
    conns["flex_ledger_db"] = {"conn_type": "sqlite", "host": str(ledger_db)}
    for conn in conns.values():
        if isinstance(conn.get("extra"), dict):
            conn["extra"] = json.dumps(conn["extra"])
    return conns


class _Api:
    """The few REST calls the launcher makes (bearer token renewed on 401)."""

    def __init__(self, stack: AirflowStack) -> None:
        import httpx

        self.stack = stack
        self.client = httpx.Client(base_url=stack.url, timeout=30)
        self._token = stack.token()

    def call(self, method: str, path: str, body: Any = None) -> Any:
        for attempt in (1, 2):
            r = self.client.request(method, path, json=body, headers={"Authorization": f"Bearer {self._token}"})
            if r.status_code == 401 and attempt == 1:
                self._token = self.stack.token()
                continue
            r.raise_for_status()
            return r.json() if r.content else None
        return None

    def wait_dags(self, dag_ids: Sequence[str], timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.stack.check_alive()
            found = {d["dag_id"] for d in self.call("GET", "/api/v2/dags?limit=100")["dags"]}
            if set(dag_ids) <= found:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"DAGs not parsed within {timeout:.0f} s: {sorted(set(dag_ids) - found)}")
            time.sleep(1)

    def run_and_wait(self, dag_id: str, conf: dict[str, Any], timeout: float = 900) -> str:
        run = self.call("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf})
        run_id = run["dag_run_id"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.stack.check_alive()
            state = self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]
            if state in ("success", "failed"):
                return state
            time.sleep(2)
        return "timeout"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the UI demo until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m flex_provider.ui.launch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", default=".demo-ui", help="working folder (default .demo-ui, wiped first)")
    parser.add_argument("--port", type=int, default=8080, help="api-server port on 127.0.0.1 (default 8080)")
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--clock-speed", type=float, default=60.0)
    parser.add_argument("--keep", action="store_true", help="keep an existing --dir instead of wiping it")
    parser.add_argument("--no-runs", action="store_true", help="start the UI only, trigger no DAG runs")
    args = parser.parse_args(argv)

    from flex_provider.merchant.generate import generate

    started = time.monotonic()

    def say(msg: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {msg}", flush=True)

    if not _port_free(args.port):
        print(f"port {args.port} on 127.0.0.1 is in use: pass --port N (make ui PORT=N)", file=sys.stderr)
        return 2
    work = Path(args.dir).resolve()
    if work.exists() and not args.keep:
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    merchant_db, ledger_db = work / "merchant.db", work / "ledger.db"
    signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM stops like Ctrl-C, whatever the launcher is doing

    webhook_url = f"http://127.0.0.1:{args.port}/flex/webhooks"
    say(f"Starting the Flex sandbox (webhooks -> {webhook_url})")
    sandbox = Sandbox(work / "sandbox", "--clock-speed", str(args.clock_speed), "--webhook-url", webhook_url,
                      "--merchant-db-url", f"sqlite:///{merchant_db}")
    stack = AirflowStack(
        work / "airflow", port=args.port, dags_folder=REPO / "dags",
        extra_env={
            "AIRFLOW__FLEX__LEDGER_CONN_ID": "flex_ledger_db",
            "AIRFLOW__FLEX__MERCHANT_CONN_ID": "flex_merchant_db",
            "AIRFLOW__FLEX__WEBHOOK_CONN_ID": "flex_default",
            "FLEX_BATCH_DIR": str(work / "batches"),
            "FLEX_ACK_POKE_SECONDS": "2",
            "FLEX_ACK_TIMEOUT_SECONDS": "300",
        },
    )
    try:
        sandbox.start()  # returns once sandbox.json is written: the connections below are never empty
        today = datetime.fromisoformat(sandbox.admin("GET", "/clock")["now"].replace("Z", "+00:00")).date()
        last_day = today - timedelta(days=1)
        days = [last_day - timedelta(days=d) for d in range(args.days - 1, -1, -1)]
        if not merchant_db.exists():
            gen = generate(f"sqlite:///{merchant_db}", rows=args.rows, days=args.days, end_date=last_day)
            say(f"Merchant DB {merchant_db}: {gen.declines} declines, bad rows {gen.bad}")
        say("airflow db migrate; storing the connections in the metadata DB")
        stack.migrate()
        stack.import_connections(connections(sandbox.info, merchant_db, ledger_db))
        say("Starting api-server, scheduler, dag-processor, triggerer")
        stack.start()
        stack.wait_ready(("/api/v2/monitor/health", "/flex/health"))
        api = _Api(stack)
        api.wait_dags(DAGS)
        say("Airflow UI ready")
        print(f"\n  Airflow UI       {stack.url}  (user admin)\n"
              f"  admin password   in {stack.password_file}\n"
              f"  Flex view        {stack.url}/plugin/flex\n"
              f"  logs             {stack.log_dir}\n"
              "  stop             Ctrl-C here (stops the sandbox and every Airflow process)\n", flush=True)
        if not args.no_runs:
            _demo_runs(api, sandbox, days, say)
            counts = merchant_counts(merchant_db)
            say(f"Demo runs done: shipped {counts['shipped']}, rescued {counts['approved']}, "
                f"expired {counts['expired']}, pending {counts['pending']}; see {stack.url}/plugin/flex")
        while True:
            stack.check_alive()
            time.sleep(2)
    except KeyboardInterrupt:
        return 0
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not cut the clean-up short
            signal.signal(sig, signal.SIG_IGN)
        say("Stopping Airflow and the sandbox")
        stack.stop()
        sandbox.stop()
        say("stopped")


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def _demo_runs(api: _Api, sandbox: Sandbox, days: list[Any], say: Any) -> None:
    for dag_id in DAGS:
        api.call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
    for day in days:
        say(f"flex_mit_daily for {day} (scheduler run)")
        state = api.run_and_wait("flex_mit_daily", {"business_date": day.isoformat()})
        say(f"  {state}")
    window = 21 + 2
    say(f"Fast-forwarding the sandbox clock {window} days (past every rescue window)")
    sandbox.admin("POST", "/clock", {"advance_seconds": window * 86400})
    sandbox.admin("POST", "/settle")
    time.sleep(3)
    say("flex_reconcile (scheduler run)")
    say(f"  {api.run_and_wait('flex_reconcile', {})}")


if __name__ == "__main__":
    raise SystemExit(main())
