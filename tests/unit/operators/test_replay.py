"""``FlexReplayOrdersOperator``: a replay needs dates or order ids; the templated arguments."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowFailException

from flex_provider.operators.replay import FlexReplayOrdersOperator


def test_a_replay_without_dates_or_orders_fails_before_touching_a_database() -> None:
    op = FlexReplayOrdersOperator(task_id="replay", date_from="None", date_to="", order_ids="[]",
                                  ledger_conn_id="flex_absent", merchant_conn_id="flex_absent")  # fmt: skip
    with pytest.raises(AirflowFailException, match="Give date_from/date_to or order_ids"):
        op.execute({})  # type: ignore[arg-type]


def test_the_dates_orders_and_sql_are_templated() -> None:
    assert {"date_from", "date_to", "order_ids", "sql", "mid"} <= set(FlexReplayOrdersOperator.template_fields)
    assert FlexReplayOrdersOperator(task_id="r", order_ids="a").sql == "sql/project_orders.sql"
