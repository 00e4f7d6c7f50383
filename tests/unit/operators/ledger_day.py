"""A ledger day on SQLite for the ack tests: two evaluate files recorded, and their manifest."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

DAY, MID = date(2026, 11, 24), "m"
NAMES = ["evaluate_m_20261124_0001.json", "evaluate_m_20261124_0002.json"]
SHA = "0" * 64


@pytest.fixture(name="ledger")
def ledger_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from flex_provider.batch.ledger import FlexLedger

    monkeypatch.setenv("AIRFLOW_CONN_FLEX_LEDGER_DB", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "l.db")}))
    ledger = FlexLedger("flex_ledger_db")
    for name in NAMES:
        ledger.record_file(name, business_date=DAY, kind="evaluate", mid=MID, rows=1, sha256=SHA, rows_sha256=SHA)
    return ledger


@pytest.fixture(name="manifest")
def manifest_fixture(tmp_path: Path) -> Path:
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


def acknowledge(ledger, names: list[str], status: str, error: str | None = None) -> None:
    for name in names:
        ledger.mark_acknowledged(name, status, error)
