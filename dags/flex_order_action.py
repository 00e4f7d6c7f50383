"""
flex_order_action: refund (full or partial) or cancel one Flex order from the UI, then update the order.

Trigger with params ``order_id`` (your order id), ``action`` (``refund_full`` | ``refund_partial`` |
``cancel``), ``amount`` (dollars, partial refunds only) and ``reason``. The call runs on the worker with an
idempotency key derived from the order and the action, so a retry or a second click sends the same key.
"""

from __future__ import annotations

import os

from airflow.sdk import DAG, Param, task

from flex_provider.operators.api import FlexCancelOperator, FlexRefundOperator

MERCHANT_CONN_ID = os.environ.get("FLEX_MERCHANT_CONN_ID", "flex_merchant_db")
FLEX_CONN_ID = os.environ.get("FLEX_CONN_ID", "flex_default")

LOOKUP = "ti.xcom_pull(task_ids='lookup_order')"

with DAG(
    dag_id="flex_order_action",
    description="Refund or cancel one Flex order, then update the merchant's order",
    schedule=None,
    catchup=False,
    tags=["flex", "manual"],
    params={
        "order_id": Param("", type="string", minLength=1, title="Order id", description="Your order id."),
        "action": Param("refund_full", enum=["refund_full", "refund_partial", "cancel"], title="Action"),
        "amount": Param(None, type=["null", "number"], exclusiveMinimum=0, title="Amount (partial refund)"),
        "reason": Param("", type="string", title="Reason"),
    },
    doc_md=__doc__,
) as dag:

    @task
    def lookup_order(**context: object) -> dict:
        """Find Flex's order id and the state of the merchant order; refuse impossible actions early."""
        from sqlalchemy import text

        from flex_provider.merchant.db import engine_for_conn

        params = context["params"]
        engine = engine_for_conn(MERCHANT_CONN_ID)
        try:
            with engine.connect() as conn:
                row = (
                    conn.execute(
                        text(
                            "SELECT order_id, flex_order_id, status, amount_cents, refunded_amount_cents "
                            "FROM orders WHERE order_id = :o ORDER BY id LIMIT 1"
                        ),
                        {"o": params["order_id"]},
                    )
                    .mappings()
                    .first()
                )
        finally:
            engine.dispose()
        if row is None or not row["flex_order_id"]:
            raise ValueError(f"Order {params['order_id']!r} is unknown or was never accepted by Flex")
        action = params["action"]
        allowed = {"cancel": ("PENDING_FLEX",), "refund_full": ("PAID",), "refund_partial": ("PAID",)}
        if row["status"] not in allowed[action]:
            raise ValueError(f"Cannot {action} an order in status {row['status']}")
        if action == "refund_partial" and not params.get("amount"):
            raise ValueError("refund_partial needs an amount")
        amount = params.get("amount") if action == "refund_partial" else None
        return {**dict(row), "action": action, "amount": amount, "reason": params.get("reason") or None}

    @task.branch
    def choose(order: dict) -> str:
        """Pick the API call."""
        return "cancel" if order["action"] == "cancel" else "refund"

    order = lookup_order()

    refund = FlexRefundOperator(
        task_id="refund",
        order_session_key="{{ " + LOOKUP + "['flex_order_id'] }}",
        amount="{{ " + LOOKUP + "['amount'] if " + LOOKUP + "['amount'] is not none else '' }}",
        reason="{{ " + LOOKUP + "['reason'] or '' }}",
        refund_reference="{{ " + LOOKUP + "['action'] }}",
        flex_conn_id=FLEX_CONN_ID,
    )
    cancel = FlexCancelOperator(
        task_id="cancel", order_session_key="{{ " + LOOKUP + "['flex_order_id'] }}", flex_conn_id=FLEX_CONN_ID
    )

    @task(trigger_rule="none_failed_min_one_success")
    def update_order(order: dict) -> dict:
        """Write the outcome to the merchant DB (status only moves forward)."""
        from sqlalchemy import text

        from flex_provider.merchant.db import engine_for_conn, utc_text

        engine = engine_for_conn(MERCHANT_CONN_ID)
        now = utc_text()
        try:
            with engine.begin() as conn:
                if order["action"] == "cancel":
                    sql = "UPDATE orders SET status = 'CANCELLED', flex_status = 'CANCELLED', updated_at = :now "
                    sql += "WHERE order_id = :o AND status = 'PENDING_FLEX'"
                    params = {"o": order["order_id"], "now": now}
                else:
                    cents = (
                        round(float(order["amount"]) * 100)
                        if order["amount"] is not None
                        else int(order["amount_cents"] or 0) - int(order["refunded_amount_cents"] or 0)
                    )
                    sql = (
                        "UPDATE orders SET refunded_amount_cents = refunded_amount_cents + :c, "
                        "status = CASE WHEN refunded_amount_cents + :c >= amount_cents THEN 'REFUNDED' "
                        "ELSE status END, updated_at = :now WHERE order_id = :o AND status = 'PAID'"
                    )
                    params = {"o": order["order_id"], "c": cents, "now": now}
                updated = conn.execute(text(sql), params).rowcount
        finally:
            engine.dispose()
        return {"order_id": order["order_id"], "action": order["action"], "updated": updated}

    choose(order) >> [refund, cancel]
    [refund, cancel] >> update_order(order)
