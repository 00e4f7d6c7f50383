"""
flex_mit_daily_fanout: flex_mit_daily with the ship step fanned out over SSH sessions, and a dry run.

For days with many files: the extract step splits the files to ship into ``ship_groups`` groups (always
that many, some empty: a cleared run never maps to fewer, apache/airflow#25531) and one mapped ``ship``
task uploads each group over its own SSH session, possibly on different workers (``[flex] batch_dir``
must then be shared storage). Trigger with ``dry_run`` to write the files and rejects locally and ship,
record and project nothing (no ship task is mapped, so every later task is skipped); ``row_limit``
reads at most that many rows (a first small run; the rest follows as late rows of the day).
"""

from __future__ import annotations

from airflow.sdk import DAG, Param, task

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
    dag_id="flex_mit_daily_fanout",
    description="flex_mit_daily with mapped ship tasks (one SSH session each) and a dry run",
    schedule=FlexDailyTimetable("0 2 * * *", timezone="UTC"),  # a DAG that never ran starts at the next 02:00
    catchup=False,
    max_active_runs=1,
    default_args={"on_failure_callback": FlexOnCallNotifier(http_conn_id="flex_oncall")},
    params={
        "business_date": Param(None, type=["null", "string"], format="date", title="Business date"),
        "dry_run": Param(False, type="boolean", title="Dry run", description="Write files, ship nothing."),
        "row_limit": Param(None, type=["null", "integer"], minimum=1, title="Row limit"),
    },
    tags=["flex", "batch", "example"],
    doc_md=__doc__,
) as dag:
    # [START howto_operator_flex_extract_fanout]
    extract = ExtractDeclinesOperator(
        task_id="extract_declines",
        sql="sql/extract_declined_mit.sql",
        business_date="{{ params.business_date }}",
        row_limit="{{ params.row_limit }}",
        dry_run="{{ params.dry_run }}",  # a dry run maps no ship task: the rest is skipped
        ship_groups=4,
    )
    # [END howto_operator_flex_extract_fanout]

    # [START howto_operator_flex_ship_mapped]
    @task
    def ship_groups(summary: dict) -> list[list[str]]:
        """The extract step's file groups (Airflow maps only over a task's return value)."""
        return summary["ship_groups"]

    ship = ShipBatchOperator.partial(
        task_id="ship",
        manifest=extract.output["manifest"],
        outlets=[EVALUATE_BATCHES],
        post_execute=counts_to_outlets,  # one asset event per ship task, with the rows it uploaded
    ).expand(files=ship_groups(extract.output))
    # [END howto_operator_flex_ship_mapped]

    record = RecordShipmentOperator(task_id="record_shipment", manifest=extract.output["manifest"])
    mark = FlexProjectOrdersOperator(task_id="mark_pending", sql="sql/project_orders.sql", mid=extract.output["mid"])
    acks = FlexAckSensor(task_id="wait_for_acks", manifest=extract.output["manifest"], deferrable=True)
    process = ProcessAcksOperator(
        task_id="process_acks",
        files=acks.output,
        manifest=extract.output["manifest"],
        outlets=[ACKS],
        post_execute=counts_to_outlets,
    )
    project = FlexProjectOrdersOperator(
        task_id="project_orders",
        sql="sql/project_orders.sql",
        summary_sql="sql/recovery_summary.sql",
    )

    ship >> record >> mark >> acks >> process >> project
