"""
flex_transmit_daily: send Flex copies of the day's approved recurring payments as transmit batches.

Flex builds the merchant's risk model from approved transactions. extract (``sql/extract_approved.sql``
on the data interval) -> transmit files + rejects + manifest -> ship (mapped groups of files; the ledger
skips files already sent).
"""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.sdk import DAG, CronDataIntervalTimetable, Param, task

from flex_provider.assets import TRANSMIT_BATCHES, counts_to_outlets
from flex_provider.operators.batch import ShipBatchOperator, WriteBatchOperator

MERCHANT_CONN_ID = os.environ.get("FLEX_MERCHANT_CONN_ID", "flex_merchant_db")
LEDGER_CONN_ID = os.environ.get("FLEX_LEDGER_CONN_ID", "flex_ledger_db")
FLEX_CONN_ID = os.environ.get("FLEX_CONN_ID", "flex_default")
SFTP_CONN_ID = os.environ.get("FLEX_SFTP_CONN_ID", "flex_sftp_default")
#: Mapped ship tasks (SSH sessions in parallel); constant, so a rerun never maps to fewer (see file_groups).
SHIP_TASKS = int(os.environ.get("FLEX_SHIP_TASKS", "4"))
RETRIES = int(os.environ.get("FLEX_TASK_RETRIES", "2"))

WINDOW = "ti.xcom_pull(task_ids='resolve_window')"

with DAG(
    dag_id="flex_transmit_daily",
    description="Send Flex copies of the day's approved recurring payments (SFTP transmit batches)",
    schedule=CronDataIntervalTimetable("30 2 * * *", timezone="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": RETRIES, "retry_delay": timedelta(minutes=2)},
    tags=["flex", "batch"],
    params={
        "business_date": Param(None, type=["null", "string"], format="date", title="Business date"),
        "dry_run": Param(False, type="boolean", title="Dry run"),
        "row_limit": Param(None, type=["null", "integer"], minimum=1, title="Row limit"),
    },
    doc_md=__doc__,
) as dag:

    @task
    def resolve_window(**context: object) -> dict:
        """Business date and UTC window of this run."""
        from flex_provider.merchant.dag_support import business_window

        return business_window(context, kind="transmit")

    window = resolve_window()

    extract = WriteBatchOperator(
        task_id="extract_approved",
        kind="transmit",
        sql="sql/extract_approved.sql",
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
    )

    window >> extract  # the templates pull resolve_window's XCom

    @task
    def plan_shipments(summary: dict, window: dict) -> list[list[str]]:
        """Groups of batch files (new ones, and files Flex rejected as a whole), one ship task each."""
        from flex_provider.merchant.dag_support import file_groups

        files = [*summary["files"], *summary.get("resend", [])]
        return file_groups([] if window["dry_run"] else files, SHIP_TASKS)  # empty groups ship nothing

    ShipBatchOperator.partial(
        task_id="ship",
        manifest="{{ ti.xcom_pull(task_ids='extract_approved')['manifest'] }}",
        ledger_conn_id=LEDGER_CONN_ID,
        flex_conn_id=FLEX_CONN_ID,
        sftp_conn_id=SFTP_CONN_ID,
        outlets=[TRANSMIT_BATCHES],
        post_execute=counts_to_outlets,  # one asset event per ship task, with its counts
    ).expand(files=plan_shipments(extract.output, window))
