"""
Ship bench: N declined orders in PostgreSQL -> validated evaluate files (<= 2000 rows) -> OpenSSH sshd.

ours:     one child process (a worker) running the daily DAG's two tasks with the real operators:
          ``WriteBatchOperator`` (``dags/sql/extract_declined_mit.sql`` streamed as Arrow -> ``BatchWriter``:
          column checks, PAN scan, ledger dedupe via ``already_shipped``) and ``ShipBatchOperator(manifest=...)``
          (ledger record, a bearer token from the sandbox, upload over SFTP channels of one session, ``.part``
          + rename, token in line 1, ledger mark). ``--one-task`` measures instead the one-task pipeline
          ``ShipBatchOperator(sql=...)`` (``flex_provider.batch.pipeline.ShipPipeline``: extract, checks,
          files, ledger record of many files a transaction, upload, mark of many uploads a transaction, every
          stage overlapped), which the daily DAG does not use yet. The child reports its wall time (after
          imports) and peak RSS.
baseline: ``psql \\copy (same query, parameters inlined) TO csv``, ``split -l 2000``, ``sftp -b`` put of the
          same number of files.

Both upload to the same sshd. Run: ``.venv/bin/python bench/ship.py --rows 1000000`` (``--smoke``: 2000).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    BenchResult,
    PgDatabase,
    airflow_env,
    base_parser,
    fresh_database,
    log,
    report,
    run_child_json,
    sandbox_server,
    size_of,
    sshd_server,
    timed,
)
from bench.ship_floors import ledger_floor, model_floor, sql_floor

MID = "6f1f4b0e-8b1c-4d8e-9a52-0c0ffee00001"
BUSINESS_DATE = date(2026, 11, 24)
SFTP_CONN_ID = "flex_sftp_bench"
DB_CONN_ID = "flex_bench_db"  # merchant DB and ledger in one database
FLEX_CONN_ID = "flex_bench_api"  # the sandbox: the ship task fetches its bearer token there
EXTRACT_SQL_FILE = Path(__file__).resolve().parent.parent / "dags" / "sql" / "extract_declined_mit.sql"
WINDOW = {"window_start": "2026-11-24T00:00:00Z", "window_end": "2026-11-25T00:00:00Z"}
TARGET = 1.5
#: ours (every check, the ledger, the token) against the hand-written day-one pandas task (no checks)
PANDAS_TARGET = 0.5


def extract_query() -> str:
    """The DAG's extract SQL (dags/sql/extract_declined_mit.sql) with its bind parameters inlined, for psql."""
    lines = [ln for ln in EXTRACT_SQL_FILE.read_text().splitlines() if not ln.lstrip().startswith("--")]
    sql = "\n".join(lines).strip().rstrip(";")
    for key, value in WINDOW.items():
        sql = sql.replace(f":{key}", f"'{value}'")
    return sql


# Letters instead of digits in hex: no random 13-19 digit runs that the PAN check would (rightly) reject.
_NO_DIGITS = "translate(md5({x}), '0123456789', 'ghijklmnop')"

LOAD_SQL = f"""
INSERT INTO card_tokens (id, customer_id, flex_token, card_bin, card_last4, exp_month, exp_year,
                         card_brand, card_type, holder_name, sense_key, created_at)
SELECT g, 'cus_' || g, 'tok_' || {_NO_DIGITS.format(x="g::text")}, '411111', lpad((g % 10000)::text, 4, '0'),
       1 + g % 12, 2027 + g % 5, 'VISA', 'CREDIT', 'Holder ' || g, {_NO_DIGITS.format(x="'s' || g")},
       TIMESTAMPTZ '2025-01-01 00:00:00+00'
FROM generate_series(1, __N__) g;

INSERT INTO subscriptions (subscription_id, customer_id, email, first_name, last_name, phone, address_line1,
                           city, state, zip_code, country_code, country, plan_code, billing_interval,
                           price_cents, currency, card_token_id, status, started_at)
SELECT 'sub_' || g, 'cus_' || g, 'user' || g || '@example.com', 'First' || (g % 997), 'Last' || (g % 991),
       '+1555' || lpad((g % 10000000)::text, 7, '0'), (g % 9999) || ' Main Street', 'Springfield', 'IL',
       lpad((g % 100000)::text, 5, '0'), 'US', 'United States', 'basic', 'monthly', 1999, 'USD', g, 'active',
       TIMESTAMPTZ '2025-01-01 00:00:00+00'
FROM generate_series(1, __N__) g;

INSERT INTO orders (order_id, subscription_id, customer_id, card_token_id, payment_number, is_mit,
                    is_recurring, amount_cents, currency, description, customer_ip, psp_name,
                    psp_transaction_id, attempted_at, response_status, decline_code, decline_message,
                    avs_result, cvv_result, status, refunded_amount_cents)
SELECT 'ord_' || g || '_2026-11', 'sub_' || g, 'cus_' || g, g, 1 + g % 24, true, true, 1999 + g % 1000, 'USD',
       'Monthly plan', '10.' || (g % 250) || '.' || (g % 199) || '.7', 'stripe', 'txn_' || g,
       TIMESTAMPTZ '2026-11-24 00:00:00+00' + (g % 86400) * INTERVAL '1 second', 'DECLINED', '51',
       'Insufficient funds', 'Y', 'M', 'DECLINED', 0
FROM generate_series(1, __N__) g;
ANALYZE;
"""


def load_orders(db: PgDatabase, n: int) -> None:
    """Create the merchant schema and fill it with ``n`` declined orders (one subscription + token each)."""
    from sqlalchemy import create_engine

    from flex_provider.merchant.schema import create_schema

    engine = create_engine(db.url)
    create_schema(engine)
    engine.dispose()
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(LOAD_SQL.replace("__N__", str(int(n))))
        conn.commit()
    finally:
        conn.close()


def reset_ledger(db: PgDatabase) -> None:
    """Forget earlier ship runs (ledger tables), so a second run does the same work again."""
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "DO $$ BEGIN IF to_regclass('flex_batch_rows') IS NOT NULL THEN "
                "TRUNCATE flex_batch_rows, flex_batch_files; END IF; END $$"
            )
        conn.commit()
    finally:
        conn.close()


def prewarm(db: PgDatabase) -> None:
    """Read the extract once so neither side pays for a cold buffer cache."""
    subprocess.run(
        [*db.psql_args(), "-c", f"COPY ({extract_query()}) TO '/dev/null'"], check=True, capture_output=True
    )


# --- baseline -----------------------------------------------------------------------------------


def run_baseline(db: PgDatabase, sshd: Any, work: Path, n_files: int) -> dict[str, Any]:
    """psql \\copy -> split -> sftp -b (one session), timed stage by stage."""
    work.mkdir(parents=True, exist_ok=True)
    csv_path = work / "extract.csv"
    stages: dict[str, float] = {}
    with timed() as total:
        with timed() as t:
            subprocess.run(
                [*db.psql_args(), "-c", f"\\copy ({extract_query()}) TO '{csv_path}' WITH (FORMAT csv)"],
                check=True,
                capture_output=True,
            )
        stages["psql_copy_s"] = t()
        with timed() as t:
            subprocess.run(
                ["split", "-l", "2000", "-d", "-a", "4", str(csv_path), str(work / "evaluate_part_")],
                check=True,
                capture_output=True,
            )
        stages["split_s"] = t()
        parts = sorted(work.glob("evaluate_part_*"))
        batch = work / "sftp.batch"
        batch.write_text("cd inbound\n" + "".join(f"put {p} {p.name}\n" for p in parts))
        with timed() as t:
            subprocess.run(
                [*sshd.sftp_args(), "-b", str(batch), f"{sshd.username}@127.0.0.1"],
                check=True,
                capture_output=True,
            )
        stages["sftp_put_s"] = t()
    if len(parts) != n_files:
        log(f"baseline produced {len(parts)} files, ours {n_files}")
    uploaded = len(list((sshd.root / "inbound").iterdir()))
    return {
        "wall_s": total(),
        "files": len(parts),
        "uploaded": uploaded,
        "bytes": csv_path.stat().st_size,
        **stages,
    }


# --- second baseline: the hand-written day-one task (child process) -------------------------------

#: What a data team maps by hand on day one: flat column -> (object, key) of the request body.
HAND_NESTING = {
    "order_id": (None, "orderId"), "is_mit": (None, "isMIT"), "is_recurring": (None, "isRecurring"),
    "customer_ip": (None, "customerIp"), "sense_key": (None, "senseKey"),
    "transaction_id": ("transaction", "id"), "amount_cents": ("transaction", "amount"),
    "currency": ("transaction", "currency"), "declined_at": ("transaction", "timestampUtc"),
    "response_code": ("transaction", "responseCode"), "response_description": ("transaction", "responseDescription"),
    "response_status": ("transaction", "responseStatus"), "response_code_source": ("transaction", "responseCodeSource"),
    "processor_name": ("transaction", "processorName"), "avs_result_code": ("transaction", "avsResultCode"),
    "cvv_result_code": ("transaction", "cvvResultCode"), "dynamic_descriptor": ("transaction", "dynamicDescriptor"),
    "payer_id": ("payer", "id"), "payer_email": ("payer", "email"), "payer_phone": ("payer", "phone"),
    "billing_first_name": ("billingInformation", "firstName"), "billing_last_name": ("billingInformation", "lastName"),
    "billing_phone": ("billingInformation", "phone"), "billing_country": ("billingInformation", "country"),
    "billing_country_code": ("billingInformation", "countryCode"),
    "billing_address_line1": ("billingInformation", "addressLine1"), "billing_state": ("billingInformation", "state"),
    "billing_city": ("billingInformation", "city"), "billing_zip_code": ("billingInformation", "zipCode"),
    "card_token": ("paymentMethod", "cardNumber"), "card_holder_name": ("paymentMethod", "holderName"),
    "card_type": ("paymentMethod", "cardType"), "card_brand": ("paymentMethod", "cardBrand"),
    "card_bin": ("paymentMethod", "cardBinNumber"), "card_last4": ("paymentMethod", "cardLast4Digits"),
    "exp_month": ("paymentMethod", "expirationMonth"), "exp_year": ("paymentMethod", "expirationYear"),
    "subscription_id": ("subscription", "subscriptionId"), "subscription_interval": ("subscription", "interval"),
    "subscription_price_cents": ("subscription", "price"), "subscription_currency": ("subscription", "currency"),
    "payment_number": ("subscription", "paymentNumber"),
}  # fmt: skip


def pandas_child(db_url: str, out_dir: str) -> dict[str, Any]:
    """
    The task a data team writes by hand on day one: ``pandas.read_sql`` in chunks of 2000 -> nested dicts
    -> ``json.dumps`` -> ``SFTPHook.store_file``, one file a chunk. No checks, no ledger, no token.
    Timed, like ours, after Airflow's imports and before its own (pandas; ours pays for polars).
    """
    from airflow.providers.sftp.hooks.sftp import SFTPHook

    started = time.perf_counter()
    import pandas as pd
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    hook = SFTPHook(ssh_conn_id=SFTP_CONN_ID)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = rows = 0
    with engine.connect() as conn:
        sql = text(Path(EXTRACT_SQL_FILE).read_text())
        for number, frame in enumerate(pd.read_sql(sql, conn, params=WINDOW, chunksize=2000), start=1):
            body = []
            for seq, record in enumerate(frame.to_dict("records"), start=1):
                row: dict[str, Any] = {"sequenceNumber": str(seq), "mid": MID, "isDeclined": True}
                for column, value in record.items():
                    parent, key = HAND_NESTING.get(column, (None, None))
                    if key is None or value is None or pd.isna(value):
                        continue
                    (row if parent is None else row.setdefault(parent, {}))[key] = value
                body.append(row)
            name = f"evaluate_{MID}_{BUSINESS_DATE:%Y%m%d}_{number:04d}.json"
            doc = {
                "fileType": "evaluate",
                "mid": MID,
                "businessDate": BUSINESS_DATE.isoformat(),
                "rows": body,
            }
            (out / name).write_text(json.dumps(doc, default=str))
            hook.store_file(f"inbound/{name}", str(out / name))
            files += 1
            rows += len(body)
    hook.close_conn()
    return {"wall_s": time.perf_counter() - started, "files": files, "rows": rows, "peak_rss_mb": _peak_rss()}


def _peak_rss() -> float:
    from bench.common import self_peak_rss_mb

    return self_peak_rss_mb()


def run_pandas(db: PgDatabase, sshd: Any, work: Path) -> dict[str, Any]:
    env = airflow_env(work)
    env[f"AIRFLOW_CONN_{SFTP_CONN_ID.upper()}"] = sshd.conn_json()
    return run_child_json(
        [str(Path(__file__)), "--child-pandas", "--out-dir", str(work / "out"), "--db-url", db.url], env=env
    )


# --- ours (child process) -----------------------------------------------------------------------


def ours_child(out_dir: str, limit: int | None = None, two_task: bool = False) -> dict[str, Any]:
    """
    The daily DAG's ship step as a worker runs it, with the real operator and SQL file: the one-task
    ``ShipBatchOperator(sql=...)`` (extract -> checks -> files -> ledger record -> upload -> ledger mark,
    overlapped; the path the daily DAG uses). ``two_task``: ``WriteBatchOperator`` then
    ``ShipBatchOperator(manifest=...)`` instead (the dry-run / mapped fan-out path), for comparison.
    """
    import logging

    from bench._whatif import apply as apply_whatif
    from bench.common import self_peak_rss_mb
    from flex_provider.operators.batch import ShipBatchOperator, WriteBatchOperator

    logging.basicConfig(level=logging.WARNING)
    whatif = apply_whatif()
    started = time.perf_counter()
    query = {
        "sql": str(EXTRACT_SQL_FILE),
        "parameters": WINDOW,
        "business_date": BUSINESS_DATE.isoformat(),
        "out_dir": out_dir,
        "kind": "evaluate",
        "merchant_conn_id": DB_CONN_ID,
        "ledger_conn_id": DB_CONN_ID,
        "flex_conn_id": FLEX_CONN_ID,
        "mid": MID,
        "row_limit": limit,
    }
    if not two_task:
        summary = ShipBatchOperator(task_id="ship_evaluate", sftp_conn_id=SFTP_CONN_ID, **query).execute(
            context={}  # type: ignore[arg-type]
        )
        wall = time.perf_counter() - started
        return {
            "path": "one task: ShipBatchOperator(sql=...)",
            "wall_s": wall,
            "files": len(summary["files"]),
            "written": summary["written"],
            "rejected": summary["rejected"],
            "uploaded": len(summary["uploaded"]),
            "stages": summary["stages"],
            "peak_rss_mb": self_peak_rss_mb(),
            "whatif_patches": whatif,
        }
    summary = WriteBatchOperator(task_id="write_evaluate", **query).execute(context={})  # type: ignore[arg-type]
    written_at = time.perf_counter()
    ship = ShipBatchOperator(
        task_id="ship_evaluate",
        manifest=summary["manifest"],
        ledger_conn_id=DB_CONN_ID,
        flex_conn_id=FLEX_CONN_ID,
        sftp_conn_id=SFTP_CONN_ID,
    )
    shipped = ship.execute(context={})  # type: ignore[arg-type]
    wall = time.perf_counter() - started
    return {
        "path": "two tasks: WriteBatchOperator + ShipBatchOperator(manifest=...)",
        "wall_s": wall,
        "write_task_s": written_at - started,
        "ship_task_s": time.perf_counter() - written_at,
        "files": len(summary["files"]),
        "written": summary["written"],
        "rejected": summary["rejected"],
        "uploaded": len(shipped["uploaded"]),
        "peak_rss_mb": self_peak_rss_mb(),
        "whatif_patches": whatif,
    }


def run_ours(
    db: PgDatabase,
    sshd: Any,
    sandbox: dict[str, Any],
    work: Path,
    *,
    profile: str | None = None,
    limit: int | None = None,
    two_task: bool = False,
) -> dict[str, Any]:
    """Run the ship step in a fresh child process (so its peak RSS is its own)."""
    env = airflow_env(work)
    env[f"AIRFLOW_CONN_{SFTP_CONN_ID.upper()}"] = sshd.conn_json()
    env[f"AIRFLOW_CONN_{DB_CONN_ID.upper()}"] = json.dumps(
        {"conn_type": "postgres", "host": db.host, "port": db.port, "login": db.user, "schema": db.name}
    )
    env[f"AIRFLOW_CONN_{FLEX_CONN_ID.upper()}"] = sandbox["airflow_connections"]["flex_default"]
    args = [str(Path(__file__)), "--child-ours", "--out-dir", str(work / "out")]
    if profile:
        args += ["--profile", profile]
    if limit:
        args += ["--limit", str(limit)]
    if two_task:
        args.append("--two-task")
    return run_child_json(args, env=env)


@contextlib.contextmanager
def loaded_servers(n: int, label: str) -> Iterator[tuple[PgDatabase, Any, dict[str, Any]]]:
    """A fresh database with ``n`` declined orders (read once), OpenSSH sshd and the sandbox: the ship and
    memory benches' set-up."""
    with fresh_database(f"flex_bench_{label}") as db, sshd_server() as sshd, sandbox_server() as sandbox:
        with timed() as t:
            load_orders(db, n)
        log(f"{label}: loaded {n} orders in {t():.1f}s")
        prewarm(db)
        yield db, sshd, sandbox


def measure(
    n: int, *, profile: str | None = None, keep: bool = False, two_task: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Set up PostgreSQL + sshd with ``n`` orders; return (ours, baseline) figures."""
    with (
        loaded_servers(n, "ship") as (db, sshd, sandbox),
        tempfile.TemporaryDirectory(prefix="flex-bench-ship-") as tmp,
    ):
        work = Path(tmp)
        ours = run_ours(db, sshd, sandbox, work / "ours", profile=profile, two_task=two_task)
        log(f"ship ours: {json.dumps(ours)}")
        # pydantic over every row no longer bounds ours (the column path never calls the model per row),
        # and at 1M rows it costs minutes: measured up to 200,000 rows only
        ours["floor"] = model_floor(work / "ours" / "out") if n <= 200_000 else None
        log(f"ship model floor: {json.dumps(ours['floor'])}")
        ours["ledger_floor"] = ledger_floor(db, work / "ours" / "out")
        log(f"ship ledger floor: {json.dumps(ours['ledger_floor'])}")
        for kind in ("design", "minimal"):
            floor = sql_floor(db, work / "ours" / "out", minimal=kind == "minimal")
            log(f"ship sql floor ({kind}): {json.dumps(floor)}")
            if floor["states"] != ours["written"]:
                raise AssertionError(
                    f"the {kind} floor stored {floor['states']} states, not {ours['written']}"
                )
            ours[f"sql_floor_{kind}"] = floor
        sshd.clear("inbound")
        base = run_baseline(db, sshd, work / "baseline", ours["files"])
        log(f"ship baseline: {json.dumps(base)}")
        sshd.clear("inbound")
        base["pandas"] = run_pandas(db, sshd, work / "pandas")
        log(f"ship pandas baseline: {json.dumps(base['pandas'])}")
        sshd.clear("inbound")
    return ours, base


def main() -> int:
    parser = base_parser("Ship bench (PostgreSQL -> evaluate files -> OpenSSH sshd)", 1_000_000, 2_000)
    parser.add_argument("--child-ours", action="store_true", help=argparse_hidden())
    parser.add_argument("--out-dir", help=argparse_hidden())
    parser.add_argument("--limit", type=int, default=None, help=argparse_hidden())
    parser.add_argument("--child-pandas", action="store_true", help=argparse_hidden())
    parser.add_argument("--two-task", action="store_true", help=argparse_hidden())  # the child's path
    parser.add_argument(
        "--one-task",
        action="store_true",
        help="measure the one-task ShipBatchOperator(sql=...) pipeline instead of the daily DAG's two tasks",
    )
    parser.add_argument("--db-url", help=argparse_hidden())
    parser.add_argument(
        "--profile", default=None, help="write a cProfile text profile (cumulative) of ours here"
    )
    args = parser.parse_args()
    if args.child_pandas:
        print(json.dumps(pandas_child(args.db_url, args.out_dir)))
        return 0
    if args.child_ours:
        if args.profile:
            import cProfile
            import io
            import pstats

            prof = cProfile.Profile()
            prof.enable()
            data = ours_child(args.out_dir, args.limit, args.two_task)
            prof.disable()
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(80)
            Path(args.profile).write_text(out.getvalue())
        else:
            data = ours_child(args.out_dir, args.limit, args.two_task)
        print(json.dumps(data))
        return 0
    n = size_of(args)
    ours, base = measure(n, profile=args.profile, two_task=not args.one_task)
    expected_files = math.ceil(n / 2000)
    result = BenchResult(
        bench="ship",
        size=f"{n} rows / {ours['files']} files",
        ours=ours["wall_s"],
        baseline=base["wall_s"],
        unit="s",
        target=TARGET,
        extra={"ours": ours, "baseline": base, "expected_files": expected_files},
    )
    pandas_result = BenchResult(
        bench="ship-vs-pandas",
        size=f"{n} rows / {ours['files']} files",
        ours=ours["wall_s"],
        baseline=base["pandas"]["wall_s"],
        unit="s",
        target=PANDAS_TARGET,
        extra={"pandas": base["pandas"]},
    )
    report([result, pandas_result], args.json_out)
    led = ours["ledger_floor"]
    print(
        f"  floor ledger: the ledger's own work for these rows alone (record {led['record_s']:.2f} s + mark"
        f" {led['mark_s']:.2f} s) = {led['ledger_s']:.2f} s = {led['ledger_s'] / base['wall_s']:.2f}x the"
        f" baseline's whole run (target {TARGET:g}x)"
    )
    for kind, what in (
        ("design", "the shipped events + the provider's fold"),
        ("minimal", "primary-key-only events + a four-column state insert"),
    ):
        floor = ours[f"sql_floor_{kind}"]
        print(
            f"  floor sql {kind}: {what}, SQL alone: {floor['wall_s']:.2f} s (events {floor['events_s']:.2f} s,"
            f" state {floor['state_s']:.2f} s) = {floor['wall_s'] / base['wall_s']:.2f}x the baseline's whole"
            f" run; with the baseline's own copy and put, one after another,"
            f" {(floor['wall_s'] + base['psql_copy_s'] + base['sftp_put_s']) / base['wall_s']:.2f}x"
            f" (target {TARGET:g}x)"
        )
    if ours["floor"] is None:
        return 0
    floor = ours["floor"]["model_validate_s"]
    print(
        f"  floor ship: pydantic validating the {ours['floor']['rows']} shipped rows alone takes {floor:.3f} s"
        f" = {floor / base['wall_s']:.2f}x the baseline's whole run (target {TARGET:g}x)"
    )
    return 0


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    sys.exit(main())
