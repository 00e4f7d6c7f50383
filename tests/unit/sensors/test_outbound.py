"""FlexAckSensor's acks come from the ledger; ProcessAcksOperator's check fails on a whole-file rejection."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

DAY, MID = date(2026, 11, 24), "m"
NAMES = ["evaluate_m_20261124_0001.json", "evaluate_m_20261124_0002.json"]
SHA = "0" * 64


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from flex_provider.batch.ledger import FlexLedger

    monkeypatch.setenv("AIRFLOW_CONN_FLEX_LEDGER_DB", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "l.db")}))
    ledger = FlexLedger("flex_ledger_db")
    for name in NAMES:
        ledger.record_file(name, business_date=DAY, kind="evaluate", mid=MID, rows=1, sha256=SHA, rows_sha256=SHA)
    return ledger


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    from flex_provider.models.batch import Manifest

    path = tmp_path / "manifest.json"
    body = Manifest(
        kind="evaluate",
        mid=MID,
        business_date=DAY,
        files=[{"name": n, "rows": 1, "sha256": SHA, "rows_sha256": SHA} for n in NAMES],
        rejects_file="rejects.csv",
        totals={"extracted": 2, "written": 2, "rejected": 0},
    )
    path.write_text(body.model_dump_json())
    return path


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
    _acknowledge(ledger, NAMES, "PROCESSED")
    with pytest.raises(AirflowSkipException):
        FlexAckSensor(task_id="wait_for_acks", manifest=str(manifest)).execute({})


def test_poke_interval_and_timeout_come_from_the_flex_config(monkeypatch: pytest.MonkeyPatch) -> None:
    from flex_provider.sensors.outbound import FlexAckSensor

    monkeypatch.setenv("AIRFLOW__FLEX__ACK_POKE_INTERVAL", "7")
    monkeypatch.setenv("AIRFLOW__FLEX__ACK_TIMEOUT", "99")
    sensor = FlexAckSensor(task_id="s", manifest="m.json")
    assert (sensor.poke_interval, sensor.timeout) == (7.0, 99.0)


def test_a_file_rejected_as_a_whole_fails_the_check_with_the_merchant_message(ledger, manifest: Path) -> None:
    from flex_provider.models.batch import Manifest
    from flex_provider.operators.outbound import check_rejected_files

    body = Manifest.model_validate_json(manifest.read_text())
    for name in NAMES:
        ledger.mark_uploaded(name, remote_size=1, uploaded_sha256=SHA)
    _acknowledge(ledger, NAMES[:1], "PROCESSED")
    assert check_rejected_files(ledger, body) == {"acknowledged": 1, "uploaded": 1}
    _acknowledge(ledger, NAMES[1:], "REJECTED", "token expired")
    with pytest.raises(AirflowFailException, match=r"Flex rejected 1 file\(s\) as a whole") as e:
        check_rejected_files(ledger, body)
    assert NAMES[1] in str(e.value)
    assert "token expired" in str(e.value)
    assert "Re-run this day" in str(e.value)


def _acknowledge(ledger, names: list[str], status: str, error: str | None = None) -> None:
    for name in names:
        ledger.mark_acknowledged(name, status, error)
