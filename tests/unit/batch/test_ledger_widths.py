"""
A value longer than the ledger's column is refused where it enters, never by PostgreSQL in the middle of
a file: a source row is rejected ``too_long:order_id`` (its neighbours ship and record), an ack or result
file is quarantined naming the field (the next file is applied), and a webhook stays in the store.
SQLite does not enforce ``VARCHAR`` lengths, so these run on PostgreSQL.
"""

from __future__ import annotations

import csv
import json
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from flex_provider.batch.manifest import read_ledger_rows, read_manifest
from flex_provider.batch.outbound import process_outbound_files
from flex_provider.batch.shipment import record_shipment
from flex_provider.batch.writer import BatchWriter
from flex_provider.ledger import FlexLedger, OrderEvent
from flex_provider.ledger.files import FileRecord
from flex_provider.models.webhooks import FlexWebhookEvent
from flex_provider.operators.reconcile import webhook_events
from flex_provider.webhooks.store import WebhookStore

DAY = date(2026, 11, 24)
T0 = datetime(2026, 11, 24, 6, tzinfo=timezone.utc)


@pytest.fixture
def ledger(pg_url: str) -> Any:
    led = FlexLedger.from_url(pg_url)
    yield led
    led.engine.dispose()


def _decline(order_id: str, n: int) -> dict[str, Any]:
    return {"order_id": order_id, "transaction_id": f"t{n}", "amount_cents": 1999, "currency": "USD",
            "card_token": "tok_abc", "transaction_at": "2026-11-24T10:00:00Z", "is_mit": True,
            "is_recurring": True}  # fmt: skip


def test_an_order_id_longer_than_the_ledger_holds_is_rejected_and_the_rest_records(
    ledger: FlexLedger, tmp_path: Path
) -> None:
    mid = str(uuid.uuid4())
    longest, too_long = "a" * 255, "b" * 256
    writer = BatchWriter(kind="evaluate", mid=mid, business_date=DAY, out_dir=tmp_path)
    summary = writer.write([[_decline(longest, 1), _decline(too_long, 2), _decline("ok-3", 3)]])
    assert (summary["written"], summary["rejected"]) == (2, 1)
    with (tmp_path / writer.rejects_name).open(encoding="utf-8", newline="") as fh:
        rejects = [(r["order_id"], r["reason"]) for r in csv.DictReader(fh)]
    assert rejects == [(too_long, "too_long:order_id")]

    manifest = read_manifest(tmp_path / writer.manifest_name)
    (entry,) = manifest.files
    rows = read_ledger_rows(tmp_path / entry.name, entry.sha256) or []
    frame = pl.DataFrame(
        {"file_name": [entry.name] * len(rows), "order_id": [r["order_id"] for r in rows],
         "sequence_number": [int(r["sequence_number"]) for r in rows],
         "idempotency_key": [r["idempotency_key"] for r in rows], "expiry_date_utc": [None] * len(rows)},
        schema_overrides={"sequence_number": pl.Int32, "expiry_date_utc": pl.String},
    )  # fmt: skip
    record = FileRecord(entry.name, DAY, "evaluate", mid, entry.rows, entry.sha256, entry.rows_sha256)
    assert ledger.record_files([record], frame) == {entry.name: "written"}
    stored = {r["order_id"] for r in ledger.rows_for_files([entry.name])}
    assert stored == {longest, "ok-3"}
    # the reject names no order the ledger can key: it stays in the rejects CSV, the rest goes on
    assert record_shipment(tmp_path / writer.manifest_name, ledger)["reject_events"] == 0


def _shipped(ledger: FlexLedger, mid: str, orders: list[str]) -> None:
    ledger.append_events(
        OrderEvent(mid=mid, order_id=o, kind="shipped", event_key=f"evaluate_f.json:{n}", status="SHIPPED",
                   flex_time=T0, business_date=DAY, file_name="evaluate_f.json", expiry_at=T0 + timedelta(days=21))
        for n, o in enumerate(orders, 1)
    )  # fmt: skip


def _result_file(tmp: Path, mid: str, number: int, rows: list[dict[str, Any]]) -> Path:
    head = {"fileType": "result", "mid": mid, "generatedAtUtc": "2026-12-01T10:00:00Z", "fileNumber": number,
            "rowCount": len(rows)}  # fmt: skip
    path = tmp / f"result_{mid}_2026120110000{number}_{number:04d}.json"
    body = ",\n".join(json.dumps(r) for r in rows)
    path.write_text(json.dumps(head)[:-1] + ',"rows":[\n' + body + "\n]}\n", encoding="utf-8")
    return path


def _outcome(order_id: str, **over: Any) -> dict[str, Any]:
    row = {"orderId": order_id, "orderSessionKey": f"osk-{order_id}", "status": "APPROVED",
           "confirmationId": "22ACD1D9", "amount": 1999, "currency": "USD", "timestampUtc": "2026-11-30T08:12:00Z"}
    return {**row, **over}  # fmt: skip


@pytest.mark.parametrize(
    ("field", "value"),
    [("orderId", "x" * 256), ("orderSessionKey", "k" * 65), ("confirmationId", "c" * 65), ("currency", "USDX")],
)
def test_a_result_file_with_a_value_too_long_for_the_ledger_is_quarantined_and_the_next_applied(
    ledger: FlexLedger, tmp_path: Path, field: str, value: str
) -> None:
    mid = str(uuid.uuid4())
    _shipped(ledger, mid, ["o1", "o2"])
    bad = _result_file(tmp_path, mid, 1, [_outcome("o1"), _outcome("o2", **{field: value})])
    good = _result_file(tmp_path, mid, 2, [_outcome("o1"), _outcome("o2")])
    summary = process_outbound_files([bad, good], ledger, tmp_path / "quarantine")
    assert summary["quarantined"] == [bad.name]
    assert summary["processed"] == [good.name]
    reason = (tmp_path / "quarantine" / f"{bad.name}.reason.txt").read_text(encoding="utf-8")
    assert field in reason
    assert value not in reason
    assert {o: ledger.order_state(mid, o)["status"] for o in ("o1", "o2")} == {"o1": "APPROVED", "o2": "APPROVED"}


def test_an_ack_file_with_an_order_id_too_long_for_the_ledger_is_quarantined(
    ledger: FlexLedger, tmp_path: Path
) -> None:
    mid = str(uuid.uuid4())
    head = {"fileType": "ack", "inboundFile": f"evaluate_{mid}_20261124_0001.json", "mid": mid,
            "receivedAtUtc": "2026-11-24T07:00:00Z", "status": "PROCESSED", "rowCount": 1, "accepted": 1,
            "rejected": 0}  # fmt: skip
    row = {"sequenceNumber": "1", "orderId": "x" * 256, "orderSessionKey": "osk", "status": "SUBMITTED"}
    ack = tmp_path / f"ack_evaluate_{mid}_20261124_0001.json"
    ack.write_text(json.dumps({**head, "rows": [row]}), encoding="utf-8")
    summary = process_outbound_files([ack], ledger, tmp_path / "quarantine")
    assert summary["quarantined"] == [ack.name]
    assert "orderId" in (tmp_path / "quarantine" / f"{ack.name}.reason.txt").read_text(encoding="utf-8")


def test_webhooks_with_ids_too_long_for_the_ledger_stay_in_the_store(
    ledger: FlexLedger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mid = str(uuid.uuid4())
    db = tmp_path / "hooks.db"
    monkeypatch.setenv("AIRFLOW_CONN_FLEX_WIDTHS_DB", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    store = WebhookStore.from_url(f"sqlite:///{db}")
    deliveries = [
        {"ExternalOrderId": "sub-1", "OrderId": "osk-1", "ConfirmationId": "22ACD1D9"},
        {"ExternalOrderId": "y" * 256, "OrderId": "osk-2", "ConfirmationId": "22ACD1DA"},
        {"ExternalOrderId": "sub-3", "OrderId": "osk-3", "ConfirmationId": "c" * 200},
    ]
    for hour, ids in enumerate(deliveries, 9):
        event = FlexWebhookEvent.model_validate({"Event": "order.completed", "Amount": 1999, "Currency": "USD",
                                                 "TimeStamp": datetime(2026, 11, 25, hour, tzinfo=timezone.utc),
                                                 **ids})  # fmt: skip
        store.ingest(event, b"{}")
    try:
        assert webhook_events(ledger, "flex_widths_db", mid) == {"read": 3, "stored": 1, "unusable": 2}
        assert webhook_events(ledger, "flex_widths_db", mid)["stored"] == 0
        assert [e["order_id"] for e in ledger.order_events(mid, "sub-1")] == ["sub-1"]
        assert ledger.order_events(mid, "sub-3") == []
    finally:
        store.dispose()
