"""
A small, real merchant world for the fault tests: merchant DB + ledger + the sandbox (API, SFTP, batches).

``World`` inserts declined MIT payments for a business day (good ones and bad ones of named kinds), and
runs the batch flow with the provider's own operators, exactly as the DAGs wire them: extract -> ship ->
mark pending -> process acks -> (sandbox clock jumps past the rescue window) -> process results ->
reconcile. Every step can be run again after a fault; the invariant checker (``invariants.py``) then
says whether anything was lost, doubled or leaked.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta, timezone
from datetime import time as dtime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, select

from flex_provider.merchant.schema import card_tokens, create_schema, orders, subscriptions

ROOT = Path(__file__).resolve().parents[2]
SQL_DIR = ROOT / "dags" / "sql"


# The sample DAG's SQL files as shipped, comments included (the operators strip comments themselves).
EXTRACT_SQL = SQL_DIR / "extract_declined_mit.sql"
PROJECT_SQL = SQL_DIR / "project_orders.sql"
SUMMARY_SQL = SQL_DIR / "recovery_summary.sql"
EXPIRY_DAYS = 21
#: Sandbox seconds that take every order of a business day past its rescue window (expiry = day + 22 d).
SETTLE_SECONDS = (EXPIRY_DAYS + 3) * 86400

#: Luhn-valid public test PANs; none may ever be written by the code under test.
TEST_PANS = ("4111111111111111", "5555555555554444", "4000002760003184", "378282246310005")

#: Bad row kinds -> the rejects reason prefix the writer must give them.
BAD_KINDS: dict[str, tuple[str, ...]] = {
    "missing_amount": ("missing",),
    "missing_transaction_id": ("missing",),
    "missing_currency": ("missing",),
    "negative_amount": ("greater_than_equal", "greater_than", "value_error"),
    "zero_amount": ("greater_than", "value_error", "invalid_amount"),
    "unknown_currency": ("string_too_short", "string_too_long", "value_error", "invalid_currency"),
    "unknown_currency_3": ("value_error", "invalid_currency", "literal_error", "enum"),
    "pan_in_description": ("pan_detected",),
    "pan_in_card_token": ("pan_detected",),
    "pan_in_holder_name": ("pan_detected",),
    "pan_spaced_in_email": ("pan_detected",),
    "pan_in_decline_message": ("pan_detected",),
    "duplicate_order": ("duplicate_order",),
}


def _ts(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def sqlite_conn(path: Path) -> str:
    """``AIRFLOW_CONN_*`` JSON of a SQLite database file."""
    return json.dumps({"conn_type": "sqlite", "host": str(path)})


def pg_conn(db_name: str, host: str = "127.0.0.1", port: int = 5432) -> str:
    """``AIRFLOW_CONN_*`` JSON of a database on the local PostgreSQL server (user postgres, trust)."""
    return json.dumps(
        {"conn_type": "postgres", "host": host, "port": port, "login": "postgres", "schema": db_name}
    )


def clear_token_cache() -> None:
    """Forget cached bearer tokens: each Airflow task runs in a fresh process, so the cache starts empty."""
    from flex_provider.hooks.api import TOKEN_CACHE

    with TOKEN_CACHE.lock:
        TOKEN_CACHE._tokens.clear()


class World:
    """
    One merchant's databases, folders and connections, pointed at a running sandbox.

    :param base: folder for the SQLite files, batch files and downloads.
    :param sandbox: a started ``SandboxProcess``.
    :param env: a ``monkeypatch``-like object with ``setenv`` (connections go into the environment, so
        child processes see them too).
    :param merchant_url / ledger_url: SQLAlchemy URLs; default SQLite files under ``base``.
    :param merchant_conn / ledger_conn: the matching ``AIRFLOW_CONN_*`` JSON.
    :param flex_extra: extra keys merged into the ``flex_default`` connection extra (``timeout``...).
    :param sftp_conn: ``flex_sftp_default`` JSON (default: the sandbox's own SFTP server).
    """

    def __init__(
        self,
        base: Path,
        sandbox: Any,
        env: Any,
        *,
        merchant_url: str | None = None,
        merchant_conn: str | None = None,
        ledger_url: str | None = None,
        ledger_conn: str | None = None,
        flex_extra: dict[str, Any] | None = None,
        sftp_conn: str | None = None,
    ) -> None:
        self.base = Path(base)
        self.base.mkdir(parents=True, exist_ok=True)
        self.sandbox = sandbox
        self.mid: str = sandbox.info["mid"]
        self.tag = uuid.uuid4().hex[:6]
        if merchant_url is None:
            merchant_url = f"sqlite:///{self.base / 'merchant.db'}"
            merchant_conn = sqlite_conn(self.base / "merchant.db")
        if ledger_url is None:
            ledger_url = f"sqlite:///{self.base / 'ledger.db'}"
            ledger_conn = sqlite_conn(self.base / "ledger.db")
        self.merchant_url, self.ledger_url = merchant_url, ledger_url
        self.merchant = create_engine(merchant_url)
        create_schema(self.merchant)
        conns = sandbox.info["airflow_connections"]
        flex = json.loads(conns["flex_default"])
        flex["extra"] = {**flex.get("extra", {}), "timeout": 10, "max_retries": 4, **(flex_extra or {})}
        self.env: dict[str, str] = {
            "AIRFLOW_CONN_FLEX_DEFAULT": json.dumps(flex),
            "AIRFLOW_CONN_FLEX_SFTP_DEFAULT": sftp_conn or conns["flex_sftp_default"],
            "AIRFLOW_CONN_FLEX_MERCHANT_DB": str(merchant_conn),
            "AIRFLOW_CONN_FLEX_LEDGER_DB": str(ledger_conn),
            "AIRFLOW__FLEX__BATCH_DIR": str(self.base / "batches"),
        }
        for key, value in self.env.items():
            env.setenv(key, value)
        self.batch_dir = self.base / "batches"
        self.sftp_root = Path(sandbox.info["sftp_root"])
        #: order id -> "ok" or the bad kind it was made with (the expected fate).
        self.expect: dict[str, str] = {}
        #: business dates extracted so far -> the extract summary.
        self.extracts: dict[str, dict[str, Any]] = {}
        #: outbound file names a test broke on purpose (the only ones allowed into quarantine).
        self.expected_quarantine: set[str] = set()
        self._seq = 0
        self._cards = 0

    # -- data ------------------------------------------------------------------------------------

    def business_day(self) -> date:
        """A business day whose rescue window is still open on the sandbox clock (yesterday there)."""
        return self.sandbox.now().date() - timedelta(days=1)

    def add_declines(self, day: date, n: int, *, bad: Sequence[str] = ()) -> list[str]:
        """Insert ``n`` good declines plus one row per ``bad`` kind on ``day``; returns the order ids."""
        start = datetime.combine(day, dtime(), tzinfo=timezone.utc)
        made: list[str] = []
        kinds = ["ok"] * n + list(bad)
        with self.merchant.begin() as conn:
            for kind in kinds:
                self._seq += 1
                i = self._seq
                order_id = f"ord-{self.tag}-{i:05d}"
                sub_id = f"sub-{self.tag}-{i:05d}"
                when = start + timedelta(minutes=7 * (i % 180) + 1)
                pan = TEST_PANS[i % len(TEST_PANS)]
                token = f"tok_{self.tag}_{i:06d}" if kind != "pan_in_card_token" else pan
                card_id = conn.execute(
                    insert(card_tokens)
                    .values(
                        customer_id=f"cust-{i}",
                        flex_token=token,
                        card_bin="400000",
                        card_last4="3184",
                        exp_month=9,
                        exp_year=day.year + 2,
                        card_brand="VISA",
                        card_type="CREDIT",
                        holder_name=f"card {pan} holder" if kind == "pan_in_holder_name" else "Ann Lee",
                        created_at=_ts(start - timedelta(days=90)),
                    )
                    .returning(card_tokens.c.id)
                ).scalar_one()
                conn.execute(
                    insert(subscriptions).values(
                        subscription_id=sub_id,
                        customer_id=f"cust-{i}",
                        email=(
                            f"{pan[:4]} {pan[4:8]} {pan[8:12]} {pan[12:]}@x.example"
                            if kind == "pan_spaced_in_email"
                            else f"payer{i}@example.com"
                        ),  # fmt: skip  # noqa: RUF028
                        first_name="Ann",
                        last_name="Lee",
                        country_code="US",
                        country="United States",
                        city="Springfield",
                        billing_interval="monthly",
                        price_cents=1999,
                        currency="USD",
                        card_token_id=card_id,
                        status="active",
                        started_at=_ts(start - timedelta(days=90)),
                    )
                )
                amount: int | None = 1999 + i % 5
                currency: str | None = "USD"
                if kind == "missing_amount":
                    amount = None
                elif kind == "negative_amount":
                    amount = -500
                elif kind == "zero_amount":
                    amount = 0
                elif kind == "unknown_currency":
                    currency = "DOLLAR"
                elif kind == "unknown_currency_3":
                    currency = "ZZQ"
                elif kind == "missing_currency":
                    currency = None
                row = {
                    "order_id": order_id,
                    "subscription_id": sub_id,
                    "customer_id": f"cust-{i}",
                    "card_token_id": card_id,
                    "payment_number": 4,
                    "is_mit": True,
                    "is_recurring": True,
                    "amount_cents": amount,
                    "currency": currency,
                    "description": f"ACME card {pan}" if kind == "pan_in_description" else "ACME*PLUS",
                    "customer_ip": "203.0.113.7",
                    "psp_name": "stripe",
                    "psp_transaction_id": None if kind == "missing_transaction_id" else f"psp-{self.tag}-{i}",
                    "attempted_at": _ts(when),
                    "response_status": "DECLINED",
                    "decline_code": "51",
                    "decline_message": f"refused {pan}"
                    if kind == "pan_in_decline_message"
                    else "Insufficient funds",
                    "status": "DECLINED",
                }
                conn.execute(insert(orders).values(**row))
                if kind == "duplicate_order":
                    # The billing system wrote the same attempt twice: the first row ships, the copy is rejected.
                    conn.execute(insert(orders).values(**row))
                self.expect[order_id] = kind
                made.append(order_id)
        return made

    def merchant_rows(self) -> list[dict[str, Any]]:
        """Every merchant order row (all columns)."""
        with self.merchant.connect() as conn:
            return [dict(r) for r in conn.execute(select(orders).order_by(orders.c.id)).mappings()]

    # -- steps (the provider's operators, wired as in the DAGs) ----------------------------------

    def out_dir(self, day: date) -> Path:
        return self.batch_dir / "evaluate" / day.isoformat()

    def extract_op(self, day: date, *, sql: str | Path = EXTRACT_SQL) -> Any:
        from flex_provider.operators.batch import ExtractDeclinesOperator

        start = datetime.combine(day, dtime(), tzinfo=timezone.utc)
        return ExtractDeclinesOperator(
            task_id=f"extract_{day:%Y%m%d}",
            sql=str(sql),
            parameters={"window_start": _ts(start), "window_end": _ts(start + timedelta(days=1))},
            business_date=day.isoformat(),
            out_dir=str(self.out_dir(day)),
            expiry_days=EXPIRY_DAYS,
        )

    def extract(self, day: date, **kwargs: Any) -> dict[str, Any]:
        summary = self.extract_op(day, **kwargs).execute({})
        self.extracts[day.isoformat()] = summary
        return summary

    def ship(self, summary: dict[str, Any], files: Sequence[str] | None = None) -> dict[str, Any]:
        from flex_provider.operators.batch import ShipBatchOperator

        clear_token_cache()
        op = ShipBatchOperator(task_id="ship", manifest=summary["manifest"], files=files)
        return op.execute({})

    def record(self, summary: dict[str, Any]) -> dict[str, Any]:
        """The DAG's ``record_shipment``: shipped rows and local rejects into the ledger."""
        from flex_provider.operators.batch import RecordShipmentOperator

        return RecordShipmentOperator(task_id="record", manifest=summary["manifest"]).execute({})

    def project(self, **kwargs: Any) -> dict[str, Any]:
        """The DAGs' ``mark_pending`` / ``project_orders``: the ledger's states into the merchant DB."""
        from flex_provider.operators.batch import FlexProjectOrdersOperator

        return FlexProjectOrdersOperator(
            task_id="project", sql=str(PROJECT_SQL), summary_sql=str(SUMMARY_SQL), mid=self.mid, **kwargs
        ).execute({})

    def mark(self, summary: dict[str, Any]) -> dict[str, Any]:
        """Record the shipment, then project (``record_shipment >> mark_pending`` in the DAG)."""
        recorded = self.record(summary)
        return {"recorded": recorded, "projected": self.project()}

    def wait_outbound(self, names: Iterable[str], timeout: float = 30.0) -> None:
        """Wait (bounded) until the sandbox wrote these outbound files (read on its side of the server)."""
        outbound = self.sftp_root / "outbound"
        missing = set(names)
        deadline = time.monotonic() + timeout
        while missing:
            missing = {
                n
                for n in missing
                if not (outbound / n).exists() and not (outbound / "processed" / n).exists()
            }
            if not missing:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"sandbox wrote no {sorted(missing)} within {timeout}s")
            time.sleep(0.1)

    def process_outbound(self, names: Sequence[str]) -> dict[str, Any]:
        from flex_provider.operators.batch import ProcessOutboundOperator

        local = self.base / "outbound_downloads"
        return ProcessOutboundOperator(task_id="process", files=list(names), local_dir=str(local)).execute({})

    def ack_names(self, day: date) -> list[str]:
        """The ack file names of every batch file of ``day`` in the ledger."""
        from flex_provider.batch.ledger import FlexLedger, batch_files

        ledger = FlexLedger.from_url(self.ledger_url)
        try:
            with ledger._begin() as conn:
                names = (
                    conn.execute(select(batch_files.c.name).where(batch_files.c.business_date == day))
                    .scalars()
                    .all()
                )
        finally:
            ledger.engine.dispose()
        return [f"ack_{n.rsplit('.', 1)[0]}.json" for n in names]

    def process_acks(self, day: date, timeout: float = 30.0) -> dict[str, Any]:
        """Read the day's acks into the ledger and project (``process_acks >> project_orders``)."""
        names = self.ack_names(day)
        self.wait_outbound(names, timeout)
        out = self.process_outbound(names)
        self.project()
        return out

    def settle(self, seconds: float = SETTLE_SECONDS, timeout: float = 30.0) -> None:
        """Move the sandbox clock past the rescue window and wait until every result row is written."""
        self.sandbox.advance(seconds)
        self.wait_results_flushed(timeout)

    def wait_results_flushed(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.sandbox.admin("GET", "/sftp/status").json()["pending_results"]:
            if time.monotonic() > deadline:
                raise TimeoutError("sandbox result outbox did not drain")
            time.sleep(0.1)
        time.sleep(0.3)  # a slow-written file may still be growing under its final name

    def list_results(self) -> list[str]:
        from flex_provider.hooks.sftp import FlexSftpHook

        # Every listed file, processed ones included: the operator skips those and archives them (a file
        # read while it grew, then moved, may reappear with its tail under the same name).
        files = FlexSftpHook(ssh_conn_id="flex_sftp_default").list_outbound(["result_*.json"])
        return [f.name for f in files]

    def process_results(self) -> dict[str, Any]:
        return self.process_outbound(self.list_results())

    def reconcile(self, *, sweep: bool = True) -> dict[str, Any]:
        """flex_reconcile's ``reconcile_orders >> project_orders`` (results must be read before)."""
        from flex_provider.operators.batch import ReconcileOrdersOperator

        clear_token_cache()
        as_of = self.sandbox.now().isoformat()
        out = ReconcileOrdersOperator(
            task_id="reconcile", sweep=sweep, sweep_as_of=as_of, sweep_grace_minutes=0
        ).execute({})
        out["projected"] = self.project()
        return out

    # -- whole days ------------------------------------------------------------------------------

    def ship_day(self, day: date) -> dict[str, Any]:
        """Extract, ship, mark pending, process the acks of one day (no faults)."""
        summary = self.extract(day)
        result = self.ship(summary)
        self.mark(summary)
        if summary["files"]:
            self.process_acks(day)
        return result

    def finish(self) -> None:
        """Settle every open order at the sandbox, read every result file, reconcile."""
        self.settle()
        self.process_results()
        self.reconcile()


def run_child(code: str, env: dict[str, str], *, timeout: float = 120.0) -> Any:
    """Start ``python -c code`` with the world's environment (the caller waits or kills it)."""
    import subprocess
    import sys

    return subprocess.Popen(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        cwd=str(ROOT),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
