"""
Regression tests for bugs the fault suite found in modules it does not own (all fixed now).

* The ack parser took the last row of every sandbox ack (it ends in ``"errors":[]}``) for the closing
  ``]}`` and quarantined the file (fixed in ``flex_provider/batch/outbound.py``).
* The sample SQL files mentioned bind parameters as ``:name`` in comments, which SQLite then refused.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text

from flex_provider.batch import outbound
from tests.faults.harness import SQL_DIR

SAMPLE_ACK = (
    '{"fileType":"ack","inboundFile":"evaluate_m_20261124_0001.json","mid":"m","receivedAtUtc":'
    '"2026-11-25T16:06:08Z","status":"PROCESSED","rowCount":1,"accepted":1,"rejected":0,"fileErrors":[],'
    '"rows":[\n{"sequenceNumber":"1","orderId":"o1","orderSessionKey":"k","status":"SUBMITTED","errors":[]}\n]}\n'
)


def test_ack_whose_last_row_ends_with_an_array_is_read(tmp_path: Path) -> None:
    """Every sandbox ack ends its last row with ``"errors":[]}``; the parser must not quarantine it."""
    path = tmp_path / "ack_evaluate_m_20261124_0001.json"
    path.write_text(SAMPLE_ACK, encoding="utf-8")
    header, rows = outbound._raw_rows(path)
    assert header["status"] == "PROCESSED"
    assert [row["orderId"] for _line, row in rows] == ["o1"]


def test_shipped_extract_sql_runs_on_sqlite(tmp_path: Path) -> None:
    """The sample extract SQL must run on a SQLite merchant DB (the README's embedded default)."""
    from flex_provider.merchant.schema import create_schema

    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    create_schema(engine)
    sql = (SQL_DIR / "extract_declined_mit.sql").read_text()
    with engine.connect() as conn:
        conn.execute(
            text(sql), {"window_start": "2026-11-24T00:00:00Z", "window_end": "2026-11-25T00:00:00Z"}
        )
