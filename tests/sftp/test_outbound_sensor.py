"""FlexOutboundFileTrigger and FlexOutboundFileSensor against real servers."""

from __future__ import annotations

import asyncio
import sys
import types

import pytest
from airflow.sdk.exceptions import TaskDeferred

from flex_provider.exceptions import FlexHostKeyMismatchError
from flex_provider.sensors.outbound import FlexOutboundFileSensor
from flex_provider.triggers.outbound import FlexOutboundFileTrigger
from tests.sftp.conftest import wrong_host_key

PATTERNS = ["ack_*.json", "result_*.json"]


async def _first_event(trigger: FlexOutboundFileTrigger, timeout: float = 15.0) -> dict:
    return (await asyncio.wait_for(anext(trigger.run()), timeout)).payload


def _stat(path) -> dict:
    st = path.stat()
    return {"name": path.name, "size": st.st_size, "mtime": int(st.st_mtime)}


@pytest.mark.asyncio
async def test_trigger_returns_only_new_complete_files(exchange):
    out = exchange["outbound"]
    (out / "ack_new.json").write_text('{"fileType":"ack"}\n')
    (out / "ack_done.json").write_text('{"fileType":"ack"}\n')  # processed already
    (out / "result_M_2.json.part").write_text("{")  # upload in progress
    (out / "notes.txt").write_text("x")  # not a pattern
    growing = out / "result_M_1.json"
    growing.write_text("{")
    stop = asyncio.Event()

    async def grow() -> None:  # appends during every listing interval of the trigger
        while not stop.is_set():
            with growing.open("a") as f:
                f.write('"x",' * 10)
            await asyncio.sleep(0.05)

    kwargs = {
        "sftp_conn_id": exchange["conn_id"],
        "patterns": PATTERNS,
        "exclude": ["ack_done.json"],
        "poke_interval": 0.2,
        "settle_interval": 0.4,
    }
    writer = asyncio.create_task(grow())
    try:
        event = await _first_event(FlexOutboundFileTrigger(**kwargs))
    finally:
        stop.set()
        await writer
    assert event == {"status": "success", "files": [_stat(out / "ack_new.json")]}

    # Once it stopped growing, the same file is returned.
    event = await _first_event(FlexOutboundFileTrigger(**kwargs))
    assert [f["name"] for f in event["files"]] == ["ack_new.json", "result_M_1.json"]
    assert event["files"][1] == _stat(growing)


@pytest.mark.asyncio
async def test_trigger_wrong_host_key_is_an_error_event(sftp_server, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_FLEX_SFTP_BADKEY", sftp_server.conn_json(host_key=wrong_host_key()))
    event = await _first_event(FlexOutboundFileTrigger(sftp_conn_id="flex_sftp_badkey", poke_interval=0.1))
    assert event["status"] == "error"
    assert event["error_type"] == "host_key_mismatch"
    assert f"ssh-keyscan -p {sftp_server.port} {sftp_server.host}" in event["message"]
    sensor = FlexOutboundFileSensor(task_id="sense", sftp_conn_id="flex_sftp_badkey")
    with pytest.raises(FlexHostKeyMismatchError, match="ssh-keyscan"):
        sensor.execute_complete({}, event)


def test_trigger_serialize_round_trip():
    trigger = FlexOutboundFileTrigger(
        sftp_conn_id="c", patterns=("ack_*.json",), exclude={"b", "a"}, outbound_dir="out", poke_interval=7
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "flex_provider.triggers.outbound.FlexOutboundFileTrigger"
    assert kwargs == {
        "sftp_conn_id": "c",
        "patterns": ["ack_*.json"],
        "exclude": ["a", "b"],
        "expect": [],
        "outbound_dir": "out",
        "poke_interval": 7.0,
        "settle_interval": 5.0,
        "max_consecutive_failures": 3,
    }
    assert FlexOutboundFileTrigger(**kwargs).serialize() == (classpath, kwargs)


@pytest.fixture
def ledger(monkeypatch):
    """A stand-in ``FlexLedger`` whose processed outbound names the test sets (per the CONTRACTS API)."""
    processed: dict[str, set[str]] = {}

    class FakeLedger:
        def __init__(self, conn_id: str) -> None:
            self.conn_id = conn_id

        def processed_outbound_names(self) -> set[str]:
            return set(processed.get(self.conn_id, ()))

    module = types.ModuleType("flex_provider.batch.ledger")
    module.FlexLedger = FakeLedger
    monkeypatch.setitem(sys.modules, "flex_provider.batch.ledger", module)
    return processed


@pytest.mark.parametrize("sftp_server", ["sshd"], indirect=True)
def test_sensor_defers_and_returns_new_files(exchange, ledger):
    out = exchange["outbound"]
    for name in ("ack_old.json", "result_old.json"):
        (out / name).write_text("{}\n")
    ledger["flex_ledger"] = {"ack_old.json", "result_old.json", "ack_gone_long_ago.json"}
    sensor = FlexOutboundFileSensor(
        task_id="sense",
        sftp_conn_id=exchange["conn_id"],
        ledger_conn_id="flex_ledger",
        deferrable=True,
        poke_interval=0.2,
        settle_interval=0.3,
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})  # nothing new yet: the sensor looked once, then defers
    trigger = deferred.value.trigger
    assert isinstance(trigger, FlexOutboundFileTrigger)
    assert deferred.value.method_name == "execute_complete"
    # Only processed names still in the folder travel with the trigger.
    assert trigger.exclude == ["ack_old.json", "result_old.json"]

    (out / "result_new.json").write_text("{}\n")
    event = asyncio.run(_first_event(trigger))
    assert sensor.execute_complete({}, event) == [_stat(out / "result_new.json")]

    # Processed meanwhile by another run: nothing is returned, the sensor waits again.
    ledger["flex_ledger"].add("result_new.json")
    with pytest.raises(TaskDeferred):
        sensor.execute_complete({}, event)


@pytest.mark.parametrize("sftp_server", ["sshd"], indirect=True)
def test_deferrable_sensor_returns_files_already_there_without_deferring(exchange, ledger):
    """A rerun finds its acks in place: no trip through the triggerer (apache/airflow#71580 race)."""
    out = exchange["outbound"]
    (out / "ack_f1.json").write_text("{}\n")
    (out / "ack_f0.json").write_text("{}\n")
    ledger["flex_ledger"] = {"ack_f0.json"}
    sensor = FlexOutboundFileSensor(
        task_id="sense",
        sftp_conn_id=exchange["conn_id"],
        ledger_conn_id="flex_ledger",
        expect=["ack_f1.json"],
        deferrable=True,
        settle_interval=0.1,
    )
    assert sensor.execute({}) == [_stat(out / "ack_f1.json")]


@pytest.mark.parametrize("sftp_server", ["sshd"], indirect=True)
def test_sensor_poke(exchange, ledger):
    out = exchange["outbound"]
    (out / "ack_a.json.part").write_text("{")
    sensor = FlexOutboundFileSensor(
        task_id="sense", sftp_conn_id=exchange["conn_id"], ledger_conn_id="flex_ledger", settle_interval=0.1
    )
    assert sensor.poke({}) is False
    (out / "ack_a.json").write_text("{}\n")
    (out / "ack_b.json").write_text("{}\n")
    ledger["flex_ledger"] = {"ack_b.json"}
    result = sensor.poke({})
    assert result.is_done
    assert result.xcom_value == [_stat(out / "ack_a.json")]


@pytest.mark.asyncio
async def test_trigger_with_expect_waits_for_every_expected_file(exchange):
    out = exchange["outbound"]
    (out / "ack_f1.json").write_text("{}\n")
    trigger = FlexOutboundFileTrigger(
        sftp_conn_id=exchange["conn_id"],
        patterns=["ack_*.json"],
        expect=["ack_f1.json", "ack_f2.json"],
        poke_interval=0.1,
        settle_interval=0.1,
    )
    waiting = asyncio.ensure_future(_first_event(trigger, timeout=20))
    await asyncio.sleep(1.0)  # ack_f1 alone has been complete for many listings
    assert not waiting.done()
    (out / "ack_f2.json").write_text("{}\n")
    event = await waiting
    assert [f["name"] for f in event["files"]] == ["ack_f1.json", "ack_f2.json"]


@pytest.mark.parametrize("sftp_server", ["sshd"], indirect=True)
def test_sensor_with_expect_pokes_until_every_expected_ack_is_there(exchange, ledger):
    out = exchange["outbound"]
    (out / "ack_f1.json").write_text("{}\n")
    sensor = FlexOutboundFileSensor(
        task_id="sense",
        sftp_conn_id=exchange["conn_id"],
        ledger_conn_id="flex_ledger",
        expect=["ack_f0.json", "ack_f1.json", "ack_f2.json"],
        settle_interval=0.1,
    )
    ledger["flex_ledger"] = {"ack_f0.json"}  # processed by an earlier run: counts as there
    assert sensor.poke({}) is False
    (out / "ack_f2.json").write_text("{}\n")
    result = sensor.poke({})
    assert result.is_done
    assert [f["name"] for f in result.xcom_value] == ["ack_f1.json", "ack_f2.json"]


def test_sensor_defers_with_only_the_expected_names_not_processed_yet(exchange, ledger):
    ledger["flex_ledger"] = {"ack_f0.json"}
    sensor = FlexOutboundFileSensor(
        task_id="sense",
        sftp_conn_id=exchange["conn_id"],
        ledger_conn_id="flex_ledger",
        expect=["ack_f0.json", "ack_f1.json"],
        deferrable=True,
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    assert deferred.value.trigger.expect == ["ack_f1.json"]


def test_ack_name_of_an_inbound_file() -> None:
    from flex_provider.batch import ack_name

    assert ack_name("evaluate_M_20261124_0001.json") == "ack_evaluate_M_20261124_0001.json"
    assert ack_name("transmit_M_20261124_0001.csv") == "ack_transmit_M_20261124_0001.json"
