"""
flex_reconcile: apply Flex's outcomes to the merchant's orders and write the daily recovery summary.

Reads every new ack/result file in the outbound folder into the ledger, adds the webhook store's new
events and the overdue sweep's answers (``GET /orders`` pages, one call per order only where the list
cannot answer) as ledger events, then projects the changed order states into the merchant DB
(APPROVED -> PAID, EXPIRED -> FAILED, cancelled, refunded) and rewrites ``flex_recovery_summary``. Runs
every 30 minutes as a safety net, and soon after the webhook receiver stores new events.
"""

from __future__ import annotations

from airflow.sdk import DAG, AssetOrTimeSchedule, AssetWatcher, CronTriggerTimetable, Param

from flex_provider.assets import RECOVERY_SUMMARY, RESULTS, WEBHOOK_EVENTS, counts_to_outlets, watched
from flex_provider.notifications.oncall import FlexOnCallNotifier
from flex_provider.operators.collect import CollectOutboundOperator
from flex_provider.operators.project import FlexProjectOrdersOperator
from flex_provider.operators.reconcile import ReconcileOrdersOperator
from flex_provider.triggers.webhook_events import FlexWebhookEventTrigger

# [START howto_trigger_flex_webhook_events]
webhook_events = watched(
    WEBHOOK_EVENTS,
    [
        AssetWatcher(
            name="flex_webhook_events_watcher",
            trigger=FlexWebhookEventTrigger(conn_id="flex_ledger_db", poll_interval=15.0),
        )
    ],
)
# [END howto_trigger_flex_webhook_events]

with DAG(
    dag_id="flex_reconcile",
    description="Apply Flex outcomes (files, webhooks, GET /orders) to merchant orders; recovery summary",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("*/30 * * * *", timezone="UTC"), assets=[webhook_events]
    ),
    catchup=False,
    max_active_runs=1,
    default_args={"on_failure_callback": FlexOnCallNotifier(http_conn_id="flex_oncall")},
    params={
        "sweep_as_of": Param(
            None,
            type=["null", "string"],
            title="Sweep as of",
            description="ISO date-time used as 'now' when looking for overdue pending orders (default: now).",
        ),
    },
    tags=["flex", "reconcile"],
    doc_md=__doc__,
) as dag:
    # [START howto_operator_flex_reconcile]
    process = CollectOutboundOperator(task_id="process_outbound", outlets=[RESULTS], post_execute=counts_to_outlets)
    reconcile = ReconcileOrdersOperator(
        task_id="reconcile_orders",
        webhook_conn_id="flex_ledger_db",
        sweep=True,
        sweep_as_of="{{ params.sweep_as_of or '' }}",
    )
    project = FlexProjectOrdersOperator(
        task_id="project_orders",
        sql="sql/project_orders.sql",
        summary_sql="sql/recovery_summary.sql",
        outlets=[RECOVERY_SUMMARY],
        post_execute=counts_to_outlets,
    )
    # [END howto_operator_flex_reconcile]

    process >> reconcile >> project
