"""
Refunds and cancels from ``flex_order_action`` go through the ledger (issue 13, case 2).

One merchant world: declines shipped by ``flex_mit_daily``, the sandbox clock past the rescue window,
``flex_reconcile`` books the outcomes. Then refunds as a merchant makes them from the UI. Each test
compares three books: what Flex (the sandbox) refunded, what the ledger holds, what the merchant row
says; the expected amounts are the ones the test asked for.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.dags.support import FlexWorld, flex_world, migrate_airflow_db, run_dag, task_states

REFUND_ROUTE = "POST /v1/orders/{id}/refund"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlexWorld]:
    migrate_airflow_db()
    with flex_world(
        tmp_path_factory.mktemp("refunds"),
        "flex_refunds",
        seed=13,
        rows=45,
        bad_share=0.0,
        approved_share=0.0,
    ) as w:
        for day in w.days:
            _ok(run_dag("flex_mit_daily", conf={"business_date": day.isoformat()}))
        w.settle_past_window()
        _ok(run_dag("flex_reconcile", conf={"sweep_as_of": w.sandbox.now().isoformat()}))
        yield w


def _ok(dr: Any) -> None:
    assert str(dr.state) == "success", task_states(dr)


def _paid(world: FlexWorld) -> list[dict[str, Any]]:
    paid = [o for o in world.orders() if o["status"] == "PAID" and o["flex_order_id"]]
    assert len(paid) >= 4, "the world needs rescued orders to refund"
    return paid


def _flex_refunded(world: FlexWorld, flex_order_id: str) -> int:
    (order,) = [o for o in world.sandbox_orders() if o["id"] == flex_order_id]
    return int(order["refunded"])


def _merchant(world: FlexWorld, row_id: int) -> dict[str, Any]:
    (row,) = world.rows(
        "SELECT status, flex_status, refunded_amount_cents FROM orders WHERE id = :i", i=row_id
    )
    return row


def _refund(world: FlexWorld, order: dict[str, Any], **conf: Any) -> Any:
    return run_dag("flex_order_action", conf={"order_id": order["order_id"], **conf})


def test_equal_partial_refunds_are_two_refunds_booked_once_each(world: FlexWorld) -> None:
    order = _paid(world)[0]
    for _ in range(2):  # two clicks in the UI, two runs: two refunds of 1.50
        _ok(_refund(world, order, action="refund_partial", amount="1.50", reason="goodwill"))
    assert _flex_refunded(world, order["flex_order_id"]) == 300
    assert _merchant(world, order["id"]) == {
        "status": "PAID",
        "flex_status": "APPROVED",
        "refunded_amount_cents": 300,
    }


def test_one_request_id_refunds_once_however_often_it_runs(world: FlexWorld) -> None:
    order = _paid(world)[1]
    conf = {"action": "refund_partial", "amount": "2.00", "request_id": "ticket-4711"}
    for _ in range(3):  # the same request: a cleared run, a second trigger with the same id
        _ok(_refund(world, order, **conf))
    assert _flex_refunded(world, order["flex_order_id"]) == 200
    assert _merchant(world, order["id"])["refunded_amount_cents"] == 200


def test_full_refund_retried_after_a_lost_response(world: FlexWorld) -> None:
    order = _paid(world)[2]
    # Flex refunds, then every answer is lost: the run fails after the hook's own retries.
    world.sandbox.admin(
        "POST", "/faults", {"drop_response_after_commit_next": 50, "drop_route": REFUND_ROUTE}
    )
    try:
        failed = _refund(world, order, action="refund_full", request_id="refund-lost-answer")
    finally:
        world.sandbox.admin("POST", "/faults/reset")
    assert str(failed.state) == "failed"
    assert _flex_refunded(world, order["flex_order_id"]) == order["amount_cents"]
    # The retry of that request (same id) sends the same key and body: Flex replays, nothing twice.
    _ok(_refund(world, order, action="refund_full", request_id="refund-lost-answer"))
    assert _flex_refunded(world, order["flex_order_id"]) == order["amount_cents"]
    assert _merchant(world, order["id"]) == {
        "status": "REFUNDED",
        "flex_status": "REFUNDED",
        "refunded_amount_cents": order["amount_cents"],
    }


def test_refund_reruns_change_nothing(world: FlexWorld) -> None:
    before = world.rows(
        "SELECT id, status, flex_status, refunded_amount_cents, updated_at FROM orders ORDER BY id"
    )
    _ok(run_dag("flex_reconcile", conf={"sweep_as_of": world.sandbox.now().isoformat()}))
    assert (
        world.rows(
            "SELECT id, status, flex_status, refunded_amount_cents, updated_at FROM orders ORDER BY id"
        )
        == before
    )


@pytest.mark.parametrize(
    ("currency", "amount", "refund", "minor"), [("JPY", 1000, "100", 100), ("KWD", 2500, "1.5", 1500)]
)
def test_refunds_in_zero_and_three_decimal_currencies(
    world: FlexWorld, currency: str, amount: int, refund: str, minor: int
) -> None:
    """A merchant order in JPY or KWD, rescued by Flex: the refund is booked in the currency's minor units."""
    from datetime import timedelta

    from sqlalchemy import func, insert, select

    from flex_provider.hooks.api import FlexApiHook
    from flex_provider.ledger.events import OrderEvent
    from flex_provider.operators.api import FlexEvaluateOperator
    from tests.api.test_hook import PAST_WINDOW, approving_token, evaluate_body

    template = _paid(world)[3]
    order_id = f"{template['order_id']}-{currency.lower()}"
    # The merchant's own row of a declined payment in that currency (a copy of a shipped one, before Flex) ...
    with world.engine.begin() as conn:
        from sqlalchemy import MetaData

        orders = MetaData()
        orders.reflect(conn, only=["orders"])
        t = orders.tables["orders"]
        row = dict(conn.execute(select(t).where(t.c.id == template["id"])).mappings().one())
        # The generator COPYs explicit ids (the sequence never moved): take the next id by hand.
        row["id"] = conn.execute(select(func.max(t.c.id))).scalar_one() + 1
        row.update({c: None for c in row if c.startswith("flex_")})
        row.update(
            order_id=order_id,
            amount_cents=amount,
            currency=currency,
            refunded_amount_cents=0,
            status="DECLINED",
        )
        conn.execute(insert(t).values(**row))
    # ... handed to Flex through the REST operator, which records Flex's answer in the ledger ...
    with FlexApiHook() as api:
        body = evaluate_body(world.mid, order_id, token=approving_token(api))
    body["expiryDateUtc"] = (world.sandbox.now() + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    body["transaction"].update(amount=amount, currency=currency)
    del body["idempotencyKey"]
    flex_id = FlexEvaluateOperator(task_id="evaluate", request=body, ledger_conn_id="flex_ledger_db").execute(
        {}
    )["order_session_key"]
    world.sandbox.admin("POST", "/clock", {"advance_seconds": PAST_WINDOW})
    # ... and Flex's outcome as its result file reports it (kind, keys and amounts are Flex's facts).
    world.ledger().append_events(
        [
            OrderEvent(
                mid=world.mid,
                order_id=order_id,
                kind="result",
                event_key=f"result_{currency.lower()}.json:0",
                status="APPROVED",
                order_session_key=flex_id,
                confirmation_id="CONF01",
                amount_minor=amount,
                currency=currency,
                flex_time=world.sandbox.now(),
            )
        ]
    )
    _ok(run_dag("flex_reconcile", conf={"sweep_as_of": world.sandbox.now().isoformat()}))
    (row,) = world.rows("SELECT id, status FROM orders WHERE order_id = :o", o=order_id)
    assert row["status"] == "PAID"
    _ok(
        run_dag(
            "flex_order_action", conf={"order_id": order_id, "action": "refund_partial", "amount": refund}
        )
    )
    assert _flex_refunded(world, flex_id) == minor
    assert _merchant(world, row["id"])["refunded_amount_cents"] == minor


def test_a_float_amount_is_refused_before_any_call(world: FlexWorld) -> None:
    order = _paid(world)[0]
    before = _flex_refunded(world, order["flex_order_id"])
    with pytest.raises(Exception, match="amount"):
        _refund(world, order, action="refund_partial", amount=1.5)
    assert _flex_refunded(world, order["flex_order_id"]) == before
