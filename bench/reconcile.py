"""
Reconcile bench: N result rows applied to the merchant's ``orders`` table in PostgreSQL.

ours:     the provider's path, events -> state -> projection, as the DAG runs it once the file is downloaded:
          (1) ``process_outbound_files`` (what ``FlexProcessOutboundOperator`` calls) on a result file
          (docs/batch-files.md, one row a line): read column-wise, checked against the ``ResultRow`` model
          (``flex_provider.batch.result_columns``), COPied straight into ``flex_order_events`` (a file
          the ledger has not seen; chunks built in a thread ahead of the COPY), one statement folding
          them into ``flex_order_state``, the file marked processed; (2) ``FlexProjectOrdersOperator``
          staging the changed states server-side and
          running ``dags/sql/project_orders.sql`` (one ``UPDATE orders ... FROM``).
          (Until 2026-12 the bench fed ``apply_results`` itself and skipped the validation pass the DAG
          made first; it now runs the DAG's function.)
baseline: ``psql``: ``\\copy`` the same results (CSV) into a temp table + one ``UPDATE orders ... FROM`` with
          the same status mapping.

Merchant tables and ledger share one database. Before each side the orders (all ``PENDING_FLEX``), the
shipped rows, their ``shipped`` and ``ack`` events and their states (all ``SUBMITTED``) are reloaded to the
same state and vacuumed/analyzed.
Run: ``.venv/bin/python bench/reconcile.py --rows 1000000`` (``--smoke``: 2000).
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    BenchResult,
    PgDatabase,
    base_parser,
    fresh_database,
    log,
    report,
    size_of,
    timed,
)
from bench.sql_floor import run_floor

MID = "6f1f4b0e-8b1c-4d8e-9a52-0c0ffee00001"
TARGET = 1.5
DB_CONN_ID = "flex_bench_db"
PROJECT_SQL_FILE = Path(__file__).resolve().parent.parent / "dags" / "sql" / "project_orders.sql"

SEED_SQL = """
TRUNCATE flex_batch_rows;
TRUNCATE flex_order_events RESTART IDENTITY;
TRUNCATE flex_order_state;
TRUNCATE flex_ledger_marks;
INSERT INTO flex_ledger_marks (name, value, at) VALUES ('append', 0, now());
TRUNCATE orders;
INSERT INTO orders (order_id, subscription_id, customer_id, payment_number, is_mit, is_recurring, amount_cents,
                    currency, attempted_at, response_status, decline_code, status, flex_business_date,
                    flex_batch_file, flex_sent_at, flex_expiry_at, flex_order_id, flex_status,
                    refunded_amount_cents)
SELECT 'ord_' || g || '_2026-11', 'sub_' || g, 'cus_' || g, 1 + g % 24, true, true, 1999 + g % 1000, 'USD',
       TIMESTAMPTZ '2026-11-24 00:00:00+00' + (g % 86400) * INTERVAL '1 second', 'DECLINED', '51',
       'PENDING_FLEX', DATE '2026-11-24',
       'evaluate_{mid}_20261124_' || lpad((1 + (g - 1) / 2000)::text, 4, '0') || '.json',
       TIMESTAMPTZ '2026-11-24 06:00:00+00', TIMESTAMPTZ '2026-12-15 00:00:00+00', md5('osk' || g),
       'SUBMITTED', 0
FROM generate_series(1, {n}) g;
INSERT INTO flex_batch_rows (mid, kind, order_id, business_date, file_name, sequence_number, idempotency_key,
                             expiry_date_utc, order_session_key, status, created_at, updated_at)
SELECT '{mid}', 'evaluate', 'ord_' || g || '_2026-11', DATE '2026-11-24',
       'evaluate_{mid}_20261124_' || lpad((1 + (g - 1) / 2000)::text, 4, '0') || '.json',
       1 + (g - 1) % 2000, md5('idem' || g), TIMESTAMPTZ '2026-12-15 00:00:00+00',
       md5('osk' || g), 'SUBMITTED', now(), now()
FROM generate_series(1, {n}) g;
INSERT INTO flex_order_events (mid, order_id, kind, event_key, status, order_session_key, flex_time, detail,
                               business_date, file_name, expiry_at, sort_key, recorded_at)
SELECT '{mid}', r.order_id, k.kind,
       r.file_name || ':' || r.sequence_number || CASE k.kind WHEN 'ack' THEN ':' || r.order_id || ':SUBMITTED'
                                                             ELSE '' END,
       k.status, CASE k.kind WHEN 'ack' THEN r.order_session_key END, k.at,
       CASE k.kind WHEN 'shipped' THEN r.idempotency_key END, r.business_date, r.file_name,
       CASE k.kind WHEN 'shipped' THEN r.expiry_date_utc END,
       k.prefix, now()
FROM flex_batch_rows r
CROSS JOIN (VALUES ('shipped', 'SHIPPED', TIMESTAMPTZ '2026-11-24 06:00:00+00',
                    '112026-11-24T06:00:00.0000000SHIPPED   '),
                   ('ack', 'SUBMITTED', TIMESTAMPTZ '2026-11-24 07:00:00+00',
                    '212026-11-24T07:00:00.0000001SUBMITTED ')) AS k(kind, status, at, prefix);
INSERT INTO flex_order_state (mid, order_id, status, best_key, business_date, batch_file, sent_at, expiry_at,
                              order_session_key, refunded_minor, seq)
SELECT '{mid}', order_id, 'SUBMITTED',
       '212026-11-24T07:00:00.0000001SUBMITTED ',
       business_date, file_name, TIMESTAMPTZ '2026-11-24 06:00:00+00', expiry_date_utc, order_session_key, 0, 0
FROM flex_batch_rows;
"""

#: The baseline's one merchant write (the design floor below runs the same statement).
BASELINE_UPDATE_SQL = """
UPDATE orders o
   SET status = CASE t.status WHEN 'APPROVED' THEN 'PAID' WHEN 'EXPIRED' THEN 'FAILED' ELSE t.status END,
       flex_order_id = coalesce(t.order_session_key, o.flex_order_id),
       flex_status = t.status,
       flex_confirmation_id = coalesce(t.confirmation_id, o.flex_confirmation_id),
       flex_settled_at = t.result_at,
       updated_at = now()
  FROM tmp_results t
 WHERE o.order_id = t.order_id AND o.status = 'PENDING_FLEX';
"""
BASELINE_SQL = (
    """
BEGIN;
CREATE TEMP TABLE tmp_results (order_id text, status text, order_session_key text, confirmation_id text,
                               amount integer, currency text, result_at timestamptz) ON COMMIT DROP;
\\copy tmp_results FROM '{csv}' WITH (FORMAT csv)
"""
    + BASELINE_UPDATE_SQL
    + "COMMIT;\n"
)


#: The events our straight COPY writes, built in SQL from the baseline's temp table (same keys, same sort
#: keys: rank 3, source 1, Flex time, tie, status; see ``flex_provider.ledger.events.sort_key_for``).
FLOOR_EVENTS_SQL = """
INSERT INTO flex_order_events (mid, order_id, kind, event_key, status, order_session_key, confirmation_id,
                               amount_minor, currency, flex_time, sort_key, recorded_at)
SELECT '{mid}', t.order_id, 'result', '{file}:' || row_number() OVER (), t.status, t.order_session_key,
       t.confirmation_id, t.amount, t.currency, t.result_at,
       '31' || to_char(t.result_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')
            || CASE t.status WHEN 'APPROVED' THEN '1' ELSE '0' END || rpad(t.status, 10),
       now()
FROM tmp_results t
"""
#: The least any state write can be: two columns of the existing state row, from the new events.
FLOOR_MINIMAL_STATE_SQL = """
UPDATE flex_order_state s SET status = e.status, seq = e.id
  FROM flex_order_events e
 WHERE e.id > :before AND s.mid = e.mid AND s.order_id = e.order_id
"""


def make_results(n: int, work: Path) -> tuple[Path, Path]:
    """The same N outcomes as a result file (ours) and a CSV (baseline). 70% APPROVED, 30% EXPIRED."""
    json_path = work / f"result_{MID}_20261215000000_0001.json"
    csv_path = work / "results.csv"
    header = {
        "fileType": "result",
        "mid": MID,
        "generatedAtUtc": "2026-12-15T00:00:00Z",
        "fileNumber": 1,
        "rowCount": n,
    }
    with json_path.open("w", encoding="utf-8") as jf, csv_path.open("w", encoding="utf-8", newline="") as cf:
        out = csv.writer(cf)
        jf.write(json.dumps(header, separators=(",", ":"))[:-1] + ',"rows":[\n')
        for g in range(1, n + 1):
            approved = g % 10 < 7
            row = {
                "orderId": f"ord_{g}_2026-11",
                "orderSessionKey": None,
                "status": "APPROVED" if approved else "EXPIRED",
                "confirmationId": f"C{g:09d}" if approved else None,
                "amount": 1999 + g % 1000,
                "currency": "USD",
                "timestampUtc": "2026-11-30T08:12:00Z",
            }
            jf.write(json.dumps(row, separators=(",", ":")) + ("," if g < n else "") + "\n")
            out.writerow(
                [
                    row["orderId"],
                    row["status"],
                    "",
                    row["confirmationId"] or "",
                    row["amount"],
                    "USD",
                    row["timestampUtc"],
                ]
            )
        jf.write("]}\n")
    return json_path, csv_path


def reset(db: PgDatabase, n: int) -> None:
    conn = db.connect()
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(SEED_SQL.format(mid=MID, n=int(n)))
            for name in ("flex_batch_rows", "flex_order_events", "flex_order_state", "flex_ledger_marks"):
                cur.execute(f"VACUUM ANALYZE {name}")
            cur.execute("VACUUM ANALYZE orders")
    finally:
        conn.close()


def design_floor(db: PgDatabase, n: int, csv_path: Path, json_name: str, *, minimal: bool) -> dict[str, Any]:
    """
    The writes the design needs for these outcomes, as SQL statements alone (no Python, no parsing, no
    checks), one after another in one transaction, on the same reloaded data as both sides:

    * ``design``: the baseline's ``\\copy`` into a temp table, ``INSERT`` of the same events our COPY
      writes into ``flex_order_events`` (its three indexes), the provider's own fold
      (``flex_provider.ledger.state.fold``), and the baseline's one ``UPDATE orders``;
    * ``minimal``: the least any ledger of events + state could write: events with a primary key only
      and a two-column state update, then the same ``UPDATE`` (``bench/sql_floor.py``).

    Whatever else ours does comes on top of this, so ``floor / baseline`` bounds how close a design that
    stores each outcome as an event and a state before the merchant row can get, one step after another.
    """
    from sqlalchemy import text

    from flex_provider.ledger.state import fold

    def stage(cur: Any) -> None:
        cur.execute(
            "CREATE TEMP TABLE tmp_results (order_id text, status text, order_session_key text, "
            "confirmation_id text, amount integer, currency text, result_at timestamptz) ON COMMIT DROP"
        )
        with csv_path.open(encoding="utf-8") as fh:
            cur.copy_expert("COPY tmp_results FROM STDIN WITH (FORMAT csv)", fh)

    def state(conn: Any, before: int) -> None:
        if minimal:
            conn.execute(text(FLOOR_MINIMAL_STATE_SQL), {"before": before})
        else:
            fold(conn, after_id=before)

    def check(conn: Any) -> dict[str, Any]:
        counts = conn.execute(text("SELECT status, count(*) FROM orders GROUP BY status")).all()
        return {"after": {k: int(v) for k, v in counts}}

    events_sql = FLOOR_EVENTS_SQL.format(mid=MID, file=json_name)
    reset(db, n)
    return run_floor(
        db.url,
        stage=stage,
        steps=[
            ("events_s", lambda conn, _: conn.execute(text(events_sql))),
            ("state_s", state),
            ("update_orders_s", lambda conn, _: conn.exec_driver_sql(BASELINE_UPDATE_SQL)),
        ],
        check=check,
        minimal=minimal,
    )


def status_counts(db: PgDatabase) -> dict[str, int]:
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT status, count(*) FROM orders GROUP BY status ORDER BY status")
            return {s: int(c) for s, c in cur.fetchall()}
    finally:
        conn.close()


def _start_profile() -> Any:
    """``FLEX_BENCH_PROFILE=<path>``: cProfile ours, and log every SQL statement over 50 ms."""
    import os

    if not os.environ.get("FLEX_BENCH_PROFILE"):
        return None
    import cProfile
    import time

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def before(conn: Any, *_: Any) -> None:
        conn.info.setdefault("flex_bench_t0", []).append(time.perf_counter())

    def after(conn: Any, _cur: Any, stmt: str, *_: Any) -> None:
        took = time.perf_counter() - conn.info["flex_bench_t0"].pop()
        if took > 0.05:
            log(f"sql {took:7.3f}s {' '.join(stmt.split())[:150]}")

    event.listen(Engine, "before_cursor_execute", before)
    event.listen(Engine, "after_cursor_execute", after)
    profiler = cProfile.Profile()
    profiler.enable()
    return profiler


def _stop_profile(profiler: Any) -> None:
    import os
    import pstats

    if profiler is None:
        return
    profiler.disable()
    with open(os.environ["FLEX_BENCH_PROFILE"], "w", encoding="utf-8") as out:
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(45)


def measure(n: int) -> tuple[dict[str, Any], dict[str, Any]]:
    import os

    from sqlalchemy import create_engine

    with (
        fresh_database("flex_bench_reconcile") as db,
        tempfile.TemporaryDirectory(prefix="flex-bench-rec-") as tmp,
    ):
        work = Path(tmp)
        os.environ.setdefault("AIRFLOW_HOME", str(work / "airflow-home"))
        os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
        os.environ[f"AIRFLOW_CONN_{DB_CONN_ID.upper()}"] = json.dumps(
            {"conn_type": "postgres", "host": db.host, "port": db.port, "login": db.user, "schema": db.name}
        )
        from bench._whatif import apply as apply_whatif
        from flex_provider.batch.ledger import FlexLedger
        from flex_provider.batch.outbound import process_outbound_files
        from flex_provider.merchant.schema import create_schema
        from flex_provider.operators.batch import FlexProjectOrdersOperator

        whatif = apply_whatif()

        engine = create_engine(db.url)
        create_schema(engine)
        engine.dispose()
        ledger = FlexLedger(DB_CONN_ID)
        ledger.file_state("nothing")  # creates the tables
        json_path, csv_path = make_results(n, work)
        operator = FlexProjectOrdersOperator(
            task_id="project_orders",
            sql=str(PROJECT_SQL_FILE),
            merchant_conn_id=DB_CONN_ID,
            ledger_conn_id=DB_CONN_ID,
            mid=MID,
        )

        reset(db, n)
        profiler = _start_profile()
        with timed() as t:
            with timed() as t1:
                summary = process_outbound_files([json_path], ledger, work / "quarantine")
                counts = summary["results"]
            with timed() as t2:
                applied = operator.execute(context={})  # type: ignore[arg-type]
        _stop_profile(profiler)
        ours = {
            "wall_s": t(),
            "ledger_events_and_state_s": t1(),
            "projection_operator_s": t2(),
            "counts": counts,
            "operator": applied,
            "after": status_counts(db),
            "whatif_patches": whatif,
        }
        log(f"reconcile ours: {ours}")

        reset(db, n)
        script = work / "baseline.sql"
        script.write_text(BASELINE_SQL.format(csv=csv_path, mid=MID))
        with timed() as t:
            subprocess.run([*db.psql_args(), "-f", str(script)], check=True, capture_output=True)
        base = {"wall_s": t(), "after": status_counts(db)}
        log(f"reconcile baseline: {base}")
        if ours["after"] != base["after"]:
            raise AssertionError(f"ours and the baseline disagree: {ours['after']} != {base['after']}")
        for kind in ("design", "minimal"):
            floor = design_floor(db, n, csv_path, json_path.name, minimal=kind == "minimal")
            log(f"reconcile floor ({kind}): {floor}")
            if floor["after"] != base["after"]:
                raise AssertionError(f"the {kind} floor and the baseline disagree: {floor['after']}")
            base[f"floor_{kind}"] = floor
        ledger.engine.dispose()
    return ours, base


def main() -> int:
    args = base_parser(
        "Reconcile bench (result rows -> ledger -> merchant orders)", 1_000_000, 2_000
    ).parse_args()
    n = size_of(args)
    ours, base = measure(n)
    report(
        [
            BenchResult(
                bench="reconcile",
                size=f"{n} result rows",
                ours=ours["wall_s"],
                baseline=base["wall_s"],
                unit="s",
                target=TARGET,
                extra={"ours": ours, "baseline": base},
            )
        ],
        args.json_out,
    )
    for kind, what in (
        ("design", "events into flex_order_events + the provider's fold"),
        ("minimal", "primary-key-only events + a two-column state update"),
    ):
        floor = base[f"floor_{kind}"]
        print(
            f"  floor {kind}: {what} + the baseline's UPDATE, SQL alone, one after another: "
            f"{floor['wall_s']:.2f} s (events {floor['events_s']:.2f} s, state {floor['state_s']:.2f} s, "
            f"UPDATE {floor['update_orders_s']:.2f} s) = {floor['wall_s'] / base['wall_s']:.2f}x the baseline "
            f"(target {TARGET:g}x)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
