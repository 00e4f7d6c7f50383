"""``FlexOutboundFileSensor`` defers with what it waits for; ``FlexAckSensor``'s acks come from the ledger."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from tests.unit.operators.ledger_day import NAMES, SHA, acknowledge, ledger_fixture, manifest_fixture  # noqa: F401 - fixtures


def test_a_written_file_not_shipped_fails_with_what_to_do(ledger, manifest: Path) -> None:
    """The guard after the ship step: a file of the run not uploaded fails the run instead of a green one."""
    from flex_provider.sensors.outbound import FlexAckSensor

    sensor = FlexAckSensor(task_id="wait_for_acks", manifest=str(manifest))
    ledger.mark_uploaded(NAMES[0], remote_size=1, uploaded_sha256=SHA)
    with pytest.raises(AirflowFailException, match=r"written but not shipped: \['evaluate_m_20261124_0002\.json'\]") as e:
        sensor.execute({})
    assert "business_date=2026-11-24" in str(e.value)


def test_the_acks_awaited_are_those_of_the_uploaded_files(ledger, manifest: Path) -> None:
    from flex_provider.sensors.outbound import FlexAckSensor

    for name in NAMES:
        ledger.mark_uploaded(name, remote_size=1, uploaded_sha256=SHA)
    sensor = FlexAckSensor(task_id="wait_for_acks", manifest=str(manifest))
    assert sensor._awaited({}) == [f"ack_{n[:-5]}.json" for n in NAMES]
    assert sensor.expect == sensor.patterns == [f"ack_{n[:-5]}.json" for n in NAMES]


def test_nothing_uploaded_to_wait_for_skips(ledger, manifest: Path) -> None:
    """A rerun of a shipped day: every file is acknowledged, nothing is awaited, the rest is skipped."""
    from flex_provider.sensors.outbound import FlexAckSensor

    for name in NAMES:
        ledger.mark_uploaded(name, remote_size=1, uploaded_sha256=SHA)
    acknowledge(ledger, NAMES, "PROCESSED")
    with pytest.raises(AirflowSkipException):
        FlexAckSensor(task_id="wait_for_acks", manifest=str(manifest)).execute({})


def test_poke_interval_and_timeout_come_from_the_flex_config(monkeypatch: pytest.MonkeyPatch) -> None:
    from flex_provider.sensors.outbound import FlexAckSensor

    monkeypatch.setenv("AIRFLOW__FLEX__ACK_POKE_INTERVAL", "7")
    monkeypatch.setenv("AIRFLOW__FLEX__ACK_TIMEOUT", "99")
    sensor = FlexAckSensor(task_id="s", manifest="m.json")
    assert (sensor.poke_interval, sensor.timeout) == (7.0, 99.0)


def test_the_outbound_sensor_defers_with_what_it_still_waits_for() -> None:
    from airflow.sdk.exceptions import TaskDeferred

    from flex_provider.sensors.outbound import FlexOutboundFileSensor
    from flex_provider.triggers.outbound import FlexOutboundFileTrigger

    sensor = FlexOutboundFileSensor(task_id="wait", sftp_conn_id="sftp_x", expect=["ack_b.json", "ack_a.json"],
                                    exclude=[], outbound_dir="out", poke_interval=4, settle_interval=2, timeout=60)  # fmt: skip
    with pytest.raises(TaskDeferred) as deferred:
        sensor._defer()
    trigger = deferred.value.trigger
    assert isinstance(trigger, FlexOutboundFileTrigger)
    assert trigger.serialize()[1] == {"sftp_conn_id": "sftp_x", "patterns": ["ack_*.json", "result_*.json"],
                                      "exclude": [], "expect": ["ack_a.json", "ack_b.json"], "outbound_dir": "out",
                                      "poke_interval": 4.0, "settle_interval": 2.0, "max_consecutive_failures": 3}  # fmt: skip
    assert deferred.value.method_name == "execute_complete"


def test_a_failed_trigger_event_fails_the_sensor_and_a_host_key_mismatch_says_so() -> None:
    from airflow.sdk.exceptions import AirflowException

    from flex_provider.exceptions import FlexHostKeyMismatchError
    from flex_provider.sensors.outbound import FlexOutboundFileSensor

    sensor = FlexOutboundFileSensor(task_id="wait")
    with pytest.raises(FlexHostKeyMismatchError, match="pinned"):
        sensor.execute_complete({}, {"status": "error", "error_type": "host_key_mismatch", "message": "not the pinned key"})
    with pytest.raises(AirflowException, match="Outbound file trigger failed: refused"):
        sensor.execute_complete({}, {"status": "error", "message": "refused"})
