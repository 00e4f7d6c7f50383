"""``FlexProjectOrdersOperator``: its templated arguments; a rendered id list selects those orders only."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from flex_provider.ledger import FlexLedger
from flex_provider.ledger.events import OrderEvent
from flex_provider.merchant.schema import create_schema
from flex_provider.operators.project import FlexProjectOrdersOperator

SQL = Path(__file__).resolve().parents[3] / "dags" / "sql" / "project_orders.sql"


def test_sql_and_selection_are_templated_and_the_sql_defaults_to_the_sample_file() -> None:
    assert {"sql", "mid", "order_ids", "summary_sql"} <= set(FlexProjectOrdersOperator.template_fields)
    assert ".sql" in FlexProjectOrdersOperator.template_ext
    assert FlexProjectOrdersOperator(task_id="p").sql == "sql/project_orders.sql"


def test_a_rendered_comma_list_of_order_ids_projects_those_orders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, file in (("FLEX_LEDGER_DB", "ledger.db"), ("FLEX_MERCHANT_DB", "merchant.db")):
        monkeypatch.setenv(f"AIRFLOW_CONN_{name}", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / file)}))
    merchant = create_engine(f"sqlite:///{tmp_path / 'merchant.db'}")
    create_schema(merchant)
    merchant.dispose()
    ledger = FlexLedger("flex_ledger_db")
    when = datetime(2026, 11, 24, 6, tzinfo=timezone.utc)
    ledger.append_events([OrderEvent(mid="m", order_id=o, kind="evaluated", event_key=f"k-{o}", status="SHIPPED",
                                     order_session_key=f"osk-{o}", amount_minor=1999, currency="USD", flex_time=when,
                                     business_date=date(2026, 11, 24)) for o in ("sub-1", "sub-2", "sub-3")])  # fmt: skip
    ledger.engine.dispose()
    out = FlexProjectOrdersOperator(task_id="p", sql=str(SQL), order_ids="sub-1, sub-2").execute({})  # type: ignore[arg-type]
    assert out["staged"] == 2  # the two ids of the rendered text, not sub-3
