"""``FlexOrderStatusSensor``: deferrable, it hands the wait to ``FlexOrderStatusTrigger`` with its own settings."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowException, TaskDeferred

from flex_provider.sensors.order_status import FlexOrderStatusSensor
from flex_provider.triggers.order_status import FlexOrderStatusTrigger


def test_a_deferrable_sensor_defers_to_the_order_trigger() -> None:
    sensor = FlexOrderStatusSensor(task_id="wait", order_session_key="osk-1", flex_conn_id="flex_x",
                                   target_statuses=[7], poke_interval=11, timeout=120, deferrable=True)  # fmt: skip
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})  # type: ignore[arg-type]
    trigger = deferred.value.trigger
    assert isinstance(trigger, FlexOrderStatusTrigger)
    assert trigger.serialize()[1] == {"order_session_key": "osk-1", "flex_conn_id": "flex_x", "poll_interval": 11, "target_statuses": [7]}
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout is not None
    assert deferred.value.timeout.total_seconds() == 120


def test_the_trigger_event_becomes_the_xcom_or_a_failure() -> None:
    sensor = FlexOrderStatusSensor(task_id="wait", order_session_key="osk-1")
    event = {"status": "success", "order_session_key": "osk-1", "order_status": 7, "status_name": "APPROVED",
             "confirmation_id": "c-1", "extra": "dropped"}  # fmt: skip
    assert sensor.execute_complete({}, event) == {  # type: ignore[arg-type]
        "order_session_key": "osk-1", "order_status": 7, "status_name": "APPROVED", "confirmation_id": "c-1"}  # fmt: skip
    with pytest.raises(AirflowException, match="osk-1 failed: not found"):
        sensor.execute_complete({}, {"status": "error", "message": "not found"})  # type: ignore[arg-type]


def test_order_session_key_is_templated() -> None:
    assert "order_session_key" in FlexOrderStatusSensor.template_fields
