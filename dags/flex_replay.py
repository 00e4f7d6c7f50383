"""
flex_replay: re-fold the ledger's stored events and re-project them into the merchant DB (manual).

Give a business-date range (``date_from``/``date_to``) or order ids. The events are the facts; an
order's state and its merchant row are derived from them, so a replay repairs a merchant row that was
edited or lost and otherwise changes nothing: replaying a day twice writes nothing the second time.
CLI twin: ``python -m flex_provider.ledger replay --from 2026-11-01 --to 2026-11-03``.
"""

from __future__ import annotations

from airflow.sdk import DAG, Param

from flex_provider.operators.replay import FlexReplayOrdersOperator

with DAG(
    dag_id="flex_replay",
    description="Re-fold and re-project stored ledger events by business date or order id",
    schedule=None,
    catchup=False,
    max_active_runs=1,
    tags=["flex", "ledger"],
    params={
        "date_from": Param(None, type=["null", "string"], format="date", title="From business date"),
        "date_to": Param(None, type=["null", "string"], format="date", title="To business date"),
        "order_ids": Param([], type="array", items={"type": "string"}, title="Order ids"),
    },
    doc_md=__doc__,
) as dag:
    # [START howto_operator_flex_replay]
    FlexReplayOrdersOperator(
        task_id="replay",
        date_from="{{ params.date_from }}",
        date_to="{{ params.date_to }}",
        order_ids="{{ params.order_ids | join(',') }}",
    )
    # [END howto_operator_flex_replay]
