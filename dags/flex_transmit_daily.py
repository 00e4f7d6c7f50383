"""
flex_transmit_daily: send Flex copies of the day's approved recurring payments as transmit batches.

Flex builds the merchant's risk model from approved transactions. extract (``sql/extract_approved.sql``
on the run's business day) -> transmit files + rejects + manifest -> ship (the ledger skips files
already sent, so a rerun sends nothing twice).
"""

from __future__ import annotations

from airflow.sdk import DAG, CronDataIntervalTimetable, Param

from flex_provider.assets import TRANSMIT_BATCHES, counts_to_outlets
from flex_provider.notifications.oncall import FlexOnCallNotifier
from flex_provider.operators.extract import WriteBatchOperator
from flex_provider.operators.ship import ShipBatchOperator

with DAG(
    dag_id="flex_transmit_daily",
    description="Send Flex copies of the day's approved recurring payments (SFTP transmit batches)",
    schedule=CronDataIntervalTimetable("30 2 * * *", timezone="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"on_failure_callback": FlexOnCallNotifier(http_conn_id="flex_oncall")},
    params={"business_date": Param(None, type=["null", "string"], format="date", title="Business date")},
    tags=["flex", "batch"],
    doc_md=__doc__,
) as dag:
    # [START howto_operator_flex_transmit]
    extract = WriteBatchOperator(
        task_id="extract_approved",
        kind="transmit",
        sql="sql/extract_approved.sql",
        business_date="{{ params.business_date }}",
    )
    ShipBatchOperator(
        task_id="ship",
        manifest=extract.output["manifest"],
        outlets=[TRANSMIT_BATCHES],
        post_execute=counts_to_outlets,
    )
    # [END howto_operator_flex_transmit]
