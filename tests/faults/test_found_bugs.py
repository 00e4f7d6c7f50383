"""
Bugs the fault suite found in modules it does not own, each shown on the unpatched code.

Strict xfail: when the fix lands the test XPASSes and fails the run, as a reminder to drop the marker.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.faults.harness import SQL_DIR
from tests.faults.proposed_fixes import ack_last_row_bug_present


def test_ack_whose_last_row_ends_with_an_array_is_read(tmp_path: Path) -> None:
    """Every sandbox ack ends its last row with ``"errors":[]}``; the parser must not quarantine it."""
    assert not ack_last_row_bug_present(tmp_path)


@pytest.mark.xfail(
    strict=True, reason="dags/sql/*.sql mention :window_start / :now in comments; SQLite then refuses"
)
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
