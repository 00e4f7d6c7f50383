"""``ShipBatchOperator``: a manifest or the extract's query (one task), with the extract's arguments."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

import pytest

from flex_provider.operators.extract import WriteBatchOperator
from flex_provider.operators.ship import ShipBatchOperator
from tests.unit.operators.ledger_day import NAMES, ledger_fixture, manifest_fixture  # noqa: F401


def test_it_takes_a_manifest_or_a_query_never_both_nor_neither() -> None:
    with pytest.raises(ValueError, match="takes a manifest, or sql"):
        ShipBatchOperator(task_id="ship")
    with pytest.raises(ValueError, match="takes a manifest, or sql"):
        ShipBatchOperator(task_id="ship", manifest="m.json", sql="SELECT 1")


def test_the_manifest_path_returns_one_summary_not_xcom_keys() -> None:
    op = ShipBatchOperator(task_id="ship", manifest="m.json")
    assert (op.manifest, op.sql, op.multiple_outputs) == ("m.json", None, False)


def test_the_one_task_path_has_the_extract_arguments_templated_and_resolved_as_the_extract_does() -> None:
    assert set(WriteBatchOperator.template_fields) <= set(ShipBatchOperator.template_fields)
    assert {"manifest", "files", "sftp_conn_id", "flex_conn_id"} <= set(ShipBatchOperator.template_fields)
    op = ShipBatchOperator(task_id="ship", sql="q.sql", business_date="None", kind="transmit", rows_per_file=10)
    assert (op.kind, op.rows_per_file, op.sql) == ("transmit", 10, "q.sql")
    interval = {"data_interval_start": datetime(2026, 11, 23, 2, tzinfo=timezone.utc)}
    assert op.resolve_day(interval) == date(2026, 11, 23)  # the run's day, as WriteBatchOperator reads it
    assert op.query_parameters(date(2026, 11, 23)) == {"window_start": "2026-11-23T00:00:00Z",
                                                       "window_end": "2026-11-24T00:00:00Z"}  # fmt: skip


def _declines_db(path, rows) -> str:
    import sqlite3

    with sqlite3.connect(path) as db:
        cols = list(rows[0])
        db.execute(f"CREATE TABLE declines ({', '.join(cols)})")
        db.executemany(f"INSERT INTO declines VALUES ({', '.join('?' * len(cols))})", [list(r.values()) for r in rows])
    return json.dumps({"conn_type": "sqlite", "host": str(path)})


def test_a_one_task_dry_run_writes_the_files_and_uploads_or_records_nothing(tmp_path, monkeypatch) -> None:
    from flex_provider.ledger import FlexLedger
    from tests.fixtures.batch import source_row

    monkeypatch.setenv("AIRFLOW_CONN_FLEX_MERCHANT_DB", _declines_db(tmp_path / "m.db", [source_row(i) for i in range(5)]))
    monkeypatch.setenv("AIRFLOW_CONN_FLEX_LEDGER_DB", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "l.db")}))
    # No flex or sftp connection exists: a token fetch or an upload would fail the task.
    op = ShipBatchOperator(task_id="ship", sql="SELECT * FROM declines", business_date="2026-11-24", mid="m-dry",
                           out_dir=str(tmp_path / "out"), dry_run="True", flex_conn_id="flex_none", sftp_conn_id="sftp_none")
    summary = op.execute({})
    assert summary["dry_run"] is True and summary["uploaded"] == [] and summary["rows"] == 0  # noqa: PT018
    assert summary["would_upload"] == summary["files"] and len(summary["files"]) == 1  # noqa: PT018
    assert (tmp_path / "out" / summary["files"][0]).is_file()
    ledger = FlexLedger("flex_ledger_db")
    assert ledger.file_state(summary["files"][0]) is None
    ledger.engine.dispose()


def test_a_manifest_dry_run_lists_what_would_go_and_uploads_nothing(ledger, manifest) -> None:
    op = ShipBatchOperator(task_id="ship", manifest=str(manifest), dry_run=True, sftp_conn_id="sftp_none",
                           flex_conn_id="flex_none")
    summary = op.execute({})
    assert summary["would_upload"] == NAMES and summary["uploaded"] == []  # noqa: PT018
    assert {ledger.file_state(n) for n in NAMES} == {"written"}


def test_ship_groups_belong_to_the_extract_step() -> None:
    with pytest.raises(ValueError, match="maps no tasks"):
        ShipBatchOperator(task_id="ship", manifest="m.json", ship_groups=2)
