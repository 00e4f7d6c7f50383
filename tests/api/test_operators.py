"""REST operators, the order-status sensor and its trigger, against the sandbox server."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred

from flex_provider.operators.api import (
    FlexEvaluateOperator,
    FlexTransmitOperator,
)
from flex_provider.sensors.order_status import FlexOrderStatusSensor
from flex_provider.triggers.order_status import FlexOrderStatusTrigger
from tests.api.test_hook import PAST_WINDOW, evaluate_body
from tests.unit.test_idempotency import pinned_key


@pytest.fixture
def mid(sandbox, flex_conn_env):
    """The sandbox merchant, with the sandbox in strict idempotency mode: only keys dedupe, so an operator
    whose key changes between a run and its rerun makes a second order instead of passing unnoticed."""
    sandbox.admin("POST", "/faults/reset")
    with sandbox.strict_idempotency():
        yield sandbox.info["mid"]


def _evaluate_without_key(mid: str) -> dict:
    body = evaluate_body(mid, token="tok_ops")
    del body["idempotencyKey"]
    return body


def test_evaluate_operator_derives_the_same_key_on_rerun(mid, sandbox):
    body = _evaluate_without_key(mid)
    first = FlexEvaluateOperator(task_id="evaluate", request=body).execute({})
    second = FlexEvaluateOperator(task_id="evaluate", request=body).execute({})
    assert first["status"] == "SUBMITTED"
    assert first["order_session_key"] == second["order_session_key"]
    assert set(first) == {"order_id", "order_session_key", "status"}  # a small XCom
    # strict mode: one order only because both runs sent the same key, the pinned uuid5 of (mid, orderId)
    at_flex = [o for o in sandbox.admin("GET", "/orders").json() if o["external_order_id"] == body["orderId"]]
    assert [o["idempotency_key"] for o in at_flex] == [pinned_key(mid, body["orderId"], "evaluate")]


def test_evaluate_operator_fails_fast_on_validation_error(mid):
    body = _evaluate_without_key(mid)
    del body["expiryDateUtc"]
    with pytest.raises(AirflowFailException, match="ExpiryDateUtc"):
        FlexEvaluateOperator(task_id="evaluate", request=body).execute({})


def test_transmit_operator(mid):
    body = _evaluate_without_key(mid)
    body.pop("expiryDateUtc")
    body["isDeclined"] = False
    result = FlexTransmitOperator(task_id="transmit", request=body).execute({})
    assert result["transmit_id"]


def test_sensor_pokes_until_final(mid, sandbox):
    key = FlexEvaluateOperator(task_id="e", request=_evaluate_without_key(mid)).execute({})[
        "order_session_key"
    ]
    sensor = FlexOrderStatusSensor(task_id="wait", order_session_key=key, deferrable=False)
    assert sensor.poke({}).is_done is False
    sandbox.admin("POST", "/clock", {"advance_seconds": PAST_WINDOW})
    result = sensor.poke({})
    assert result.is_done is True
    assert result.xcom_value["status_name"] in ("Completed", "Expired")


def test_sensor_defers_to_a_read_only_trigger(mid):
    sensor = FlexOrderStatusSensor(task_id="wait", order_session_key="abc", deferrable=True, poke_interval=5)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, FlexOrderStatusTrigger)
    classpath, kwargs = trigger.serialize()
    assert classpath == "flex_provider.triggers.order_status.FlexOrderStatusTrigger"
    assert FlexOrderStatusTrigger(**kwargs).serialize() == (classpath, kwargs)
    with pytest.raises(Exception, match="failed"):
        sensor.execute_complete({}, {"status": "error", "message": "boom"})


@pytest.mark.asyncio
async def test_trigger_yields_once_the_order_is_final(mid, sandbox):
    body = _evaluate_without_key(mid)
    key = FlexEvaluateOperator(task_id="e", request=body).execute({})["order_session_key"]
    trigger = FlexOrderStatusTrigger(order_session_key=key, poll_interval=0.2)
    gen = trigger.run()
    first = asyncio.ensure_future(gen.__anext__())
    await asyncio.sleep(0.6)
    assert not first.done()  # still Processing: no event yet
    await asyncio.to_thread(sandbox.admin, "POST", "/clock", {"advance_seconds": PAST_WINDOW})
    event = await asyncio.wait_for(first, timeout=10)
    assert event.payload["status"] == "success"
    assert event.payload["status_name"] in ("Completed", "Expired")
    await gen.aclose()


@pytest.mark.asyncio
async def test_trigger_reports_unknown_order_as_error(mid):
    trigger = FlexOrderStatusTrigger(order_session_key=str(uuid.uuid4()), poll_interval=0.1)
    event = await asyncio.wait_for(trigger.run().__anext__(), timeout=10)
    assert event.payload["status"] == "error"
