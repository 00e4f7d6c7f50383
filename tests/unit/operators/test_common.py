"""``flex_provider.operators.common``: the default connection ids and the small parsers the operators share."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException

from flex_provider.operators import common


def test_default_connection_ids() -> None:
    assert (common.MERCHANT_CONN_ID, common.LEDGER_CONN_ID, common.FLEX_CONN_ID, common.SFTP_CONN_ID) == (
        "flex_merchant_db", "flex_ledger_db", "flex_default", "flex_sftp_default")  # fmt: skip


def test_as_date_reads_dates_datetimes_and_iso_text() -> None:
    assert common.as_date(date(2026, 11, 24)) == date(2026, 11, 24)
    assert common.as_date(datetime(2026, 11, 24, 23, 59, tzinfo=timezone.utc)) == date(2026, 11, 24)
    assert common.as_date("2026-11-24T10:00:00Z") == date(2026, 11, 24)


def test_read_sql_strips_comments_so_a_colon_in_one_is_no_parameter(tmp_path: Path) -> None:
    text = "-- window :ignored\nSELECT * FROM orders /* :also */ WHERE d >= :window_start"
    assert " ".join(common.read_sql(text).split()) == "SELECT * FROM orders WHERE d >= :window_start"
    path = tmp_path / "q.sql"
    path.write_text(text, encoding="utf-8")
    assert common.read_sql(str(path)) == common.read_sql(text)  # an untemplated file path is read


def test_resolve_mid_prefers_the_argument_and_fails_without_any(monkeypatch: pytest.MonkeyPatch) -> None:
    assert common.resolve_mid("m-arg", "flex_missing") == "m-arg"
    monkeypatch.setenv("AIRFLOW_CONN_FLEX_NOMID", '{"conn_type": "flex", "login": "k", "password": "s"}')
    with pytest.raises(AirflowFailException, match="'flex_nomid' has no 'mid' extra"):
        common.resolve_mid(None, "flex_nomid")
