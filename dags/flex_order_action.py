"""
flex_order_action: refund (full or partial) or cancel one Flex order from the UI.

Trigger with Params ``order_id`` (your order id), ``action`` (``refund_full`` | ``refund_partial`` |
``cancel``), ``amount`` (partial refunds: a decimal string in the order's currency, ``"19.99"``, ``"100"``
for JPY), ``reason`` and, optionally, ``request_id``. The request and Flex's answer go into the ledger; the
idempotency key comes from the request id (default: this run's id), so a retry or a cleared run refunds
once, and a new run is a new refund. The last task projects the order's new state into your DB.
"""

from __future__ import annotations

from airflow.sdk import DAG, Param, task

from flex_provider.notifications.oncall import FlexOnCallNotifier
from flex_provider.operators.api import FlexCancelOperator, FlexRefundOperator
from flex_provider.operators.project import FlexProjectOrdersOperator

REQUEST_ID = "{{ params.request_id or run_id }}"

with DAG(
    dag_id="flex_order_action",
    description="Refund or cancel one Flex order, then project it into the merchant's orders",
    schedule=None,
    catchup=False,
    default_args={"on_failure_callback": FlexOnCallNotifier(http_conn_id="flex_oncall")},
    tags=["flex", "manual"],
    params={
        "order_id": Param("", type="string", minLength=1, title="Order id", description="Your order id."),
        "action": Param(
            "refund_full",
            enum=["refund_full", "refund_partial", "cancel"],
            title="Action",
            description="refund_full refunds what is left; refund_partial needs an amount; cancel stops "
            "an order Flex still works on.",
        ),
        "amount": Param(
            None,
            type=["null", "string"],
            pattern=r"^[0-9]+(\.[0-9]+)?$",
            title="Amount (partial refund)",
            description="Major units as a decimal string in the order's currency (19.99 USD, 100 JPY, "
            "1.500 KWD). Only for refund_partial.",
        ),
        "reason": Param(
            None,
            type=["null", "string"],
            title="Reason",
            description="Optional message kept by Flex with the refund.",
        ),
        "request_id": Param(
            None,
            type=["null", "string"],
            title="Request id",
            description="Optional id of this refund or cancel. Empty: this run's id. The same id never "
            "refunds twice; a new id is a new refund.",
        ),
    },
    doc_md=__doc__,
) as dag:

    @task.branch
    def choose(**context: object) -> str:
        """Pick the API call; a partial refund without an amount fails here, before any call."""
        params = context["params"]
        if params["action"] == "cancel":
            return "cancel"
        if params["action"] == "refund_partial" and not params.get("amount"):
            raise ValueError("refund_partial needs an amount")
        return "refund"

    # [START howto_operator_flex_refund]
    refund = FlexRefundOperator(
        task_id="refund",
        order_id="{{ params.order_id }}",
        request_id=REQUEST_ID,
        amount="{{ params.amount if params.action == 'refund_partial' else '' }}",
        reason="{{ params.reason or '' }}",
    )
    cancel = FlexCancelOperator(task_id="cancel", order_id="{{ params.order_id }}", request_id=REQUEST_ID)
    # [END howto_operator_flex_refund]

    project = FlexProjectOrdersOperator(
        task_id="project_order",
        order_ids=["{{ params.order_id }}"],
        trigger_rule="none_failed_min_one_success",
    )

    choose() >> [refund, cancel] >> project
