"""
flex_mit_daily: hand yesterday's declined recurring (MIT) payments to Flex as SFTP evaluate batches.

extract (``sql/extract_declined_mit.sql`` on the data interval) -> evaluate files + rejects + manifest
-> ship (mapped: one task per group of files, one SSH session each; the ledger skips files already sent)
-> record the shipment (shipped rows and local rejects become ledger events) -> project the order states
into the merchant DB (PENDING_FLEX, reject reasons) -> wait for Flex's ack files (deferrable) -> read them
into the ledger -> project again (Flex's order ids, Flex's refusals) -> check the acks.

The merchant DB is written by one operator only (``FlexProjectOrdersOperator``, ``sql/project_orders.sql``),
from the ledger's folded order states: a rerun of any task or of the whole day re-projects and changes
nothing.

Backfill: ``airflow backfill create --dag-id flex_mit_daily --from-date 2026-11-20 --to-date 2026-11-22
--reprocess-behavior completed``; a rerun of a day ships nothing twice.
"""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.sdk import DAG, Param, task

from flex_provider.assets import ACKS, EVALUATE_BATCHES, counts_to_outlets
from flex_provider.operators.batch import (
    ExtractDeclinesOperator,
    FlexProjectOrdersOperator,
    ProcessOutboundOperator,
    RecordShipmentOperator,
    ShipBatchOperator,
)
from flex_provider.sensors.outbound import FlexOutboundFileSensor
from flex_provider.timetables import FlexDailyTimetable

MERCHANT_CONN_ID = os.environ.get("FLEX_MERCHANT_CONN_ID", "flex_merchant_db")
LEDGER_CONN_ID = os.environ.get("FLEX_LEDGER_CONN_ID", "flex_ledger_db")
FLEX_CONN_ID = os.environ.get("FLEX_CONN_ID", "flex_default")
SFTP_CONN_ID = os.environ.get("FLEX_SFTP_CONN_ID", "flex_sftp_default")
#: Mapped ship tasks (SSH sessions in parallel); constant, so a rerun never maps to fewer (see file_groups).
SHIP_TASKS = int(os.environ.get("FLEX_SHIP_TASKS", "4"))
#: Rescue window: days after the business date until Flex's default expiryDateUtc.
EXPIRY_DAYS = int(os.environ.get("FLEX_EXPIRY_DAYS", "21"))
ACK_TIMEOUT = float(os.environ.get("FLEX_ACK_TIMEOUT_SECONDS", "3600"))
ACK_POKE_INTERVAL = float(os.environ.get("FLEX_ACK_POKE_SECONDS", "30"))
RETRIES = int(os.environ.get("FLEX_TASK_RETRIES", "2"))

WINDOW = "ti.xcom_pull(task_ids='resolve_window')"

with DAG(
    dag_id="flex_mit_daily",
    description="Ship the day's declined MIT payments to Flex (SFTP evaluate batches)",
    # Day windows ending 02:00 UTC; unpausing a DAG that never ran ships nothing until the next 02:00.
    schedule=FlexDailyTimetable("0 2 * * *", timezone="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": RETRIES, "retry_delay": timedelta(minutes=2)},
    tags=["flex", "batch"],
    params={
        "business_date": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Business date",
            description="Day of the declines (UTC). Empty: the run's data interval, else yesterday.",
        ),
        "dry_run": Param(False, type="boolean", title="Dry run", description="Write files, ship nothing."),
        "row_limit": Param(
            None, type=["null", "integer"], minimum=1, title="Row limit", description="Read at most N rows."
        ),
    },
    doc_md=__doc__,
) as dag:

    @task
    def resolve_window(**context: object) -> dict:
        """Business date, UTC window and local folder of this run (works when logical_date is None)."""
        from flex_provider.merchant.dag_support import business_window

        return business_window(context, kind="evaluate")

    window = resolve_window()

    extract = ExtractDeclinesOperator(
        task_id="extract_declines",
        sql="sql/extract_declined_mit.sql",
        parameters={
            "window_start": "{{ " + WINDOW + "['window_start'] }}",
            "window_end": "{{ " + WINDOW + "['window_end'] }}",
        },
        business_date="{{ " + WINDOW + "['business_date'] }}",
        out_dir="{{ " + WINDOW + "['out_dir'] }}",
        row_limit="{{ " + WINDOW + "['row_limit'] }}",
        merchant_conn_id=MERCHANT_CONN_ID,
        ledger_conn_id=LEDGER_CONN_ID,
        flex_conn_id=FLEX_CONN_ID,
        expiry_days=EXPIRY_DAYS,
    )

    window >> extract  # the templates pull resolve_window's XCom

    @task.short_circuit
    def ship_for_real(summary: dict, window: dict) -> bool:
        """A dry run ends here: its files lie in the local folder; nothing is shipped, recorded or written."""
        if window["dry_run"]:
            print(f"Dry run: {len(summary['files'])} file(s) written to {summary['out_dir']}, nothing shipped")
        return not window["dry_run"]

    @task
    def plan_shipments(summary: dict) -> list[list[str]]:
        """Groups of batch files (new ones, and files Flex rejected as a whole), one ship task each."""
        from flex_provider.merchant.dag_support import file_groups

        return file_groups([*summary["files"], *summary.get("resend", [])], SHIP_TASKS)  # empty groups ship nothing

    groups = plan_shipments(extract.output)
    ship_for_real(extract.output, window) >> groups

    ship = ShipBatchOperator.partial(
        task_id="ship",
        manifest="{{ ti.xcom_pull(task_ids='extract_declines')['manifest'] }}",
        ledger_conn_id=LEDGER_CONN_ID,
        flex_conn_id=FLEX_CONN_ID,
        sftp_conn_id=SFTP_CONN_ID,
        outlets=[EVALUATE_BATCHES],
        post_execute=counts_to_outlets,  # one asset event per ship task, with the rows it uploaded
    ).expand(files=groups)

    record = RecordShipmentOperator(
        task_id="record_shipment",
        manifest="{{ ti.xcom_pull(task_ids='extract_declines')['manifest'] }}",
        ledger_conn_id=LEDGER_CONN_ID,
    )

    mark = FlexProjectOrdersOperator(
        task_id="mark_pending",
        sql="sql/project_orders.sql",
        merchant_conn_id=MERCHANT_CONN_ID,
        ledger_conn_id=LEDGER_CONN_ID,
        mid="{{ ti.xcom_pull(task_ids='extract_declines')['mid'] }}",
    )

    @task.short_circuit
    def anything_uploaded(summary: dict) -> list[str]:
        """
        The acks to wait for: one per file of the day uploaded but not acknowledged (a rerun: none, and
        an empty list skips the rest). Fails when a file this run wrote was not shipped.

        Asks the ledger, not the ship tasks' XComs: a cleared run (backfill with --reprocess-behavior)
        keeps the XCom of a map index that no longer exists.
        """
        from datetime import date

        from airflow.sdk.exceptions import AirflowFailException

        from flex_provider.batch import ack_name
        from flex_provider.batch.ledger import FlexLedger

        day = date.fromisoformat(summary["business_date"])
        files = FlexLedger(LEDGER_CONN_ID).files_for_day(summary["mid"], "evaluate", day)
        state = {f["name"]: f["state"] for f in files}
        written = [*summary["files"], *summary.get("resend", [])]
        unshipped = [n for n in written if state.get(n) not in ("uploaded", "acknowledged")]
        if unshipped:  # e.g. a ship task instance Airflow left "removed" (apache/airflow#25531)
            raise AirflowFailException(
                f"{len(unshipped)} batch file(s) of {day} were written but not shipped: {unshipped}. Nothing "
                f"was lost (the ledger never saw them uploaded): trigger flex_mit_daily with business_date="
                f"{day} to ship them."
            )
        waiting = [name for name, s in state.items() if s == "uploaded"]
        print(f"{len(waiting)} file(s) of {day} wait for Flex's ack: {waiting}")
        return [ack_name(name) for name in sorted(waiting)]

    awaited_acks = anything_uploaded(extract.output)

    sense = FlexOutboundFileSensor(
        task_id="wait_for_acks",
        sftp_conn_id=SFTP_CONN_ID,
        ledger_conn_id=LEDGER_CONN_ID,
        patterns=["ack_evaluate_*_{{ " + WINDOW + "['yyyymmdd'] }}_*.json"],
        expect=awaited_acks,  # every file this run uploaded: one run applies all of the day's acks
        deferrable=True,
        poke_interval=ACK_POKE_INTERVAL,
        settle_interval=1.0,
        timeout=ACK_TIMEOUT,
    )

    process = ProcessOutboundOperator(
        task_id="process_acks",
        files=sense.output,
        local_dir="{{ " + WINDOW + "['out_dir'] }}/outbound",
        ledger_conn_id=LEDGER_CONN_ID,
        sftp_conn_id=SFTP_CONN_ID,
        outlets=[ACKS],
        post_execute=counts_to_outlets,
    )

    project = FlexProjectOrdersOperator(
        task_id="project_orders",
        sql="sql/project_orders.sql",
        summary_sql="sql/recovery_summary.sql",
        merchant_conn_id=MERCHANT_CONN_ID,
        ledger_conn_id=LEDGER_CONN_ID,
        mid="{{ ti.xcom_pull(task_ids='extract_declines')['mid'] }}",
    )

    @task
    def check_acks(summary: dict) -> dict:
        """Fail the run when Flex rejected a file of the day as a whole: a rerun of the day resends it."""
        from datetime import date

        from airflow.sdk.exceptions import AirflowFailException

        from flex_provider.batch.ledger import FlexLedger

        day = date.fromisoformat(summary["business_date"])
        files = FlexLedger(LEDGER_CONN_ID).files_for_day(summary["mid"], "evaluate", day)
        rejected = {f["name"]: f["ack_error"] for f in files if f["ack_status"] == "REJECTED"}
        if rejected:
            raise AirflowFailException(
                f"Flex rejected {len(rejected)} file(s) as a whole: {rejected}. Re-run this day (clear the "
                "run, or backfill with --reprocess-behavior failed): the ship step uploads them again "
                "with a fresh token."
            )
        states: dict[str, int] = {}
        for f in files:
            states[f["state"]] = states.get(f["state"], 0) + 1
        return {"business_date": summary["business_date"], "files": states}

    (
        ship
        >> record
        >> mark
        >> awaited_acks
        >> sense
        >> process
        >> project
        >> check_acks(extract.output)
    )
