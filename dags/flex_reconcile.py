"""
flex_reconcile: apply Flex's outcomes to the merchant's orders and write the daily recovery summary.

Reads every new ack/result file in the outbound folder into the ledger, adds the webhook store's new
events and the overdue sweep's answers (``GET /orders`` pages, one call per order only where the list
cannot answer) as ledger events, then projects the changed order states into the merchant DB
(APPROVED -> PAID, EXPIRED -> FAILED, cancelled, refunded) and rewrites ``flex_recovery_summary``. Runs every 30 minutes as a safety net and, when
``flex_provider.triggers.webhook_events`` is installed, soon after new webhook events arrive.
"""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.sdk import DAG, AssetOrTimeSchedule, AssetWatcher, CronTriggerTimetable, Param, task

from flex_provider.assets import RECOVERY_SUMMARY, RESULTS, WEBHOOK_EVENTS, counts_to_outlets, watched
from flex_provider.operators.batch import (
    FlexProjectOrdersOperator,
    ProcessOutboundOperator,
    ReconcileOrdersOperator,
)

MERCHANT_CONN_ID = os.environ.get("FLEX_MERCHANT_CONN_ID", "flex_merchant_db")
LEDGER_CONN_ID = os.environ.get("FLEX_LEDGER_CONN_ID", "flex_ledger_db")
WEBHOOK_CONN_ID = os.environ.get("FLEX_WEBHOOK_CONN_ID", LEDGER_CONN_ID)
FLEX_CONN_ID = os.environ.get("FLEX_CONN_ID", "flex_default")
SFTP_CONN_ID = os.environ.get("FLEX_SFTP_CONN_ID", "flex_sftp_default")
RETRIES = int(os.environ.get("FLEX_TASK_RETRIES", "2"))
SAFETY_NET = CronTriggerTimetable("*/30 * * * *", timezone="UTC")

try:
    from flex_provider.triggers.webhook_events import FlexWebhookEventTrigger
except ImportError:  # the webhook receiver is optional
    schedule: object = SAFETY_NET
else:
    webhook_events = watched(
        WEBHOOK_EVENTS,
        [
            AssetWatcher(
                name="flex_webhook_events_watcher",
                trigger=FlexWebhookEventTrigger(conn_id=WEBHOOK_CONN_ID, poll_interval=15.0),
            )
        ],
    )
    schedule = AssetOrTimeSchedule(timetable=SAFETY_NET, assets=[webhook_events])

with DAG(
    dag_id="flex_reconcile",
    description="Apply Flex outcomes (files, webhooks, GET /orders) to merchant orders; recovery summary",
    schedule=schedule,
    catchup=False,
    max_active_runs=1,
    default_args={"retries": RETRIES, "retry_delay": timedelta(minutes=1)},
    tags=["flex", "reconcile"],
    params={
        "sweep_as_of": Param(
            None,
            type=["null", "string"],
            title="Sweep as of",
            description="ISO date-time used as 'now' when looking for overdue pending orders (default: now).",
        ),
    },
    doc_md=__doc__,
) as dag:

    @task
    def list_new_outbound() -> list[dict]:
        """
        Finished ack/result files in the outbound folder. Ones the ledger already processed are passed too:
        the process step skips and archives them (e.g. the tail of a file that was read while it grew).
        """
        from flex_provider.hooks.sftp import FlexSftpHook

        try:
            files = FlexSftpHook(ssh_conn_id=SFTP_CONN_ID).list_outbound(["ack_*.json", "result_*.json"])
        except FileNotFoundError:
            return []
        return [f.to_dict() for f in files]

    @task
    def local_dir(**context: object) -> str:
        """A local folder for this run's downloads."""
        from flex_provider.merchant.dag_support import batch_root

        return str(batch_root() / "outbound" / str(context["run_id"]).replace(":", "_").replace("+", "_"))

    process = ProcessOutboundOperator(
        task_id="process_outbound",
        files=list_new_outbound(),
        local_dir=local_dir(),
        ledger_conn_id=LEDGER_CONN_ID,
        sftp_conn_id=SFTP_CONN_ID,
        outlets=[RESULTS],
        post_execute=counts_to_outlets,
    )

    reconcile = ReconcileOrdersOperator(
        task_id="reconcile_orders",
        ledger_conn_id=LEDGER_CONN_ID,
        webhook_conn_id=WEBHOOK_CONN_ID,
        flex_conn_id=FLEX_CONN_ID,
        sweep=True,
        sweep_as_of="{{ params.get('sweep_as_of') or '' }}",
    )

    project = FlexProjectOrdersOperator(
        task_id="project_orders",
        sql="sql/project_orders.sql",
        summary_sql="sql/recovery_summary.sql",
        merchant_conn_id=MERCHANT_CONN_ID,
        ledger_conn_id=LEDGER_CONN_ID,
        outlets=[RECOVERY_SUMMARY],
        post_execute=counts_to_outlets,
    )

    process >> reconcile >> project
