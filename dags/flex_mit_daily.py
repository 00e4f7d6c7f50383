"""
flex_mit_daily: hand a day's declined recurring (MIT) payments to Flex as SFTP evaluate batches.

extract (``sql/extract_declined_mit.sql`` on the run's business day) -> ship (each file at most once) ->
record the shipment -> project order states into the merchant DB -> wait for Flex's acks -> apply them
-> project again. The ledger decides what is shipped and what is awaited: a rerun of a day ships nothing
twice. A failure (a file Flex rejected as a whole included) alerts the on-call endpoint.

Backfill: ``airflow backfill create --dag-id flex_mit_daily --from-date 2026-11-20 --to-date 2026-11-22
--reprocess-behavior completed``. Retries: ``[core] default_task_retries``. Settings: ``[flex]`` config.
"""

from __future__ import annotations

from airflow.sdk import DAG, Param

from flex_provider.assets import ACKS, EVALUATE_BATCHES, counts_to_outlets
from flex_provider.notifications.oncall import FlexOnCallNotifier
from flex_provider.operators.extract import ExtractDeclinesOperator
from flex_provider.operators.mark import RecordShipmentOperator
from flex_provider.operators.outbound import ProcessAcksOperator
from flex_provider.operators.project import FlexProjectOrdersOperator
from flex_provider.operators.ship import ShipBatchOperator
from flex_provider.sensors.outbound import FlexAckSensor
from flex_provider.timetables import FlexDailyTimetable

with DAG(
    dag_id="flex_mit_daily",
    description="Ship the day's declined MIT payments to Flex (SFTP evaluate batches)",
    schedule=FlexDailyTimetable("0 2 * * *", timezone="UTC"),  # a DAG that never ran starts at the next 02:00
    catchup=False,
    max_active_runs=1,
    default_args={"on_failure_callback": FlexOnCallNotifier(http_conn_id="flex_oncall")},
    params={"business_date": Param(None, type=["null", "string"], format="date", title="Business date")},
    tags=["flex", "batch"],
    doc_md=__doc__,
) as dag:
    # [START howto_operator_flex_extract_declines]
    extract = ExtractDeclinesOperator(
        task_id="extract_declines",
        sql="sql/extract_declined_mit.sql",
        business_date="{{ params.business_date }}",  # empty: the data interval's day, else yesterday
    )
    # [END howto_operator_flex_extract_declines]

    # [START howto_operator_flex_ship_batch]
    ship = ShipBatchOperator(
        task_id="ship",
        manifest=extract.output["manifest"],
        outlets=[EVALUATE_BATCHES],
        post_execute=counts_to_outlets,  # an asset event with the rows uploaded
    )
    # [END howto_operator_flex_ship_batch]

    record = RecordShipmentOperator(task_id="record_shipment", manifest=extract.output["manifest"])
    mark = FlexProjectOrdersOperator(task_id="mark_pending", sql="sql/project_orders.sql", mid=extract.output["mid"])

    # [START howto_sensor_flex_acks]
    acks = FlexAckSensor(task_id="wait_for_acks", manifest=extract.output["manifest"], deferrable=True)
    process = ProcessAcksOperator(
        task_id="process_acks",
        files=acks.output,
        manifest=extract.output["manifest"],  # fails the run on a file Flex rejected as a whole
        outlets=[ACKS],
        post_execute=counts_to_outlets,
    )
    # [END howto_sensor_flex_acks]

    project = FlexProjectOrdersOperator(
        task_id="project_orders",
        sql="sql/project_orders.sql",
        summary_sql="sql/recovery_summary.sql",
    )

    ship >> record >> mark >> acks >> process >> project
