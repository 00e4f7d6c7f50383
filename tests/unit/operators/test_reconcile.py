"""``flex_provider.operators.reconcile``: webhook events become ledger facts once; the recovery totals."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from flex_provider.ledger import FlexLedger
from flex_provider.models.webhooks import FlexWebhookEvent
from flex_provider.operators.reconcile import recovery_totals, webhook_events
from flex_provider.webhooks.store import WebhookStore


def _event(order: str, name: str, status_ts: int) -> FlexWebhookEvent:
    return FlexWebhookEvent.model_validate({"Event": name, "TimeStamp": datetime(2026, 11, 25, status_ts, tzinfo=timezone.utc),
                                            "OrderId": f"osk-{order}", "ExternalOrderId": order, "Amount": 1999,
                                            "Currency": "USD"})  # fmt: skip


def test_webhook_events_are_appended_once_whatever_the_reruns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "shared.db"
    monkeypatch.setenv("AIRFLOW_CONN_FLEX_HOOKS_DB", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    store = WebhookStore.from_url(f"sqlite:///{db}")
    store.ingest(_event("sub-1", "order.completed", 9), b"{}")
    store.ingest(_event("sub-2", "order.expired", 10), b"{}")
    ledger = FlexLedger.from_url(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        first = webhook_events(ledger, "flex_hooks_db", "m")
        assert first == {"read": 2, "stored": 2, "unusable": 0}
        again = webhook_events(ledger, "flex_hooks_db", "m")  # re-reads the overlap, stores nothing twice
        assert again["stored"] == 0
        kinds = {(e["order_id"], e["kind"]) for o in ("sub-1", "sub-2") for e in ledger.order_events("m", o)}
        assert kinds == {("sub-1", "webhook"), ("sub-2", "webhook")}
    finally:
        store.dispose()
        ledger.engine.dispose()


def test_no_webhook_table_is_nothing_to_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_FLEX_EMPTY_DB", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "e.db")}))
    ledger = FlexLedger.from_url(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        assert webhook_events(ledger, "flex_empty_db", "m") == {"read": 0, "stored": 0, "unusable": 0}
    finally:
        ledger.engine.dispose()


def test_recovery_totals_sum_every_day_and_never_add_amounts_across_currencies(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'merchant.db'}")
    cols = ["declines_sent", "rejected", "pending", "rescued_count", "rescued_amount_cents", "expired_count",
            "cancelled_count", "refunded_count"]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE flex_recovery_summary (day TEXT, currency TEXT, "
                          f"{', '.join(c + ' INTEGER' for c in cols)})"))  # fmt: skip
        conn.execute(text("INSERT INTO flex_recovery_summary VALUES ('2026-11-24', 'USD', 10, 1, 2, 3, 5997, 4, 0, 1), "
                          "('2026-11-25', 'USD', 5, 0, 1, 1, 1999, 2, 1, 0), "
                          "('2026-11-25', 'JPY', 2, 0, 0, 1, 1500, 0, 0, 0), "
                          "('2026-11-25', 'KWD', 1, 0, 1, 0, 0, 0, 0, 0)"))  # fmt: skip
    totals = recovery_totals(engine)
    assert totals == {"declines_sent": 18, "rejected": 1, "pending": 4, "rescued": 5,
                      "rescued_amount_minor": {"JPY": 1500, "USD": 7996},
                      "expired": 6, "cancelled": 1, "refunded": 1, "recovery_rate": round(5 / 11, 4)}  # fmt: skip
    engine.dispose()
