"""``ShipBatchOperator``: a manifest or the extract's query (one task), with the extract's arguments."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from flex_provider.operators.extract import WriteBatchOperator
from flex_provider.operators.ship import ShipBatchOperator


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
