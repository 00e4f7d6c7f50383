"""``RecordShipmentOperator``: the day's rejects become ledger facts once, whatever the reruns (SQLite)."""

from __future__ import annotations

from pathlib import Path

from flex_provider.operators.mark import RecordShipmentOperator
from tests.unit.operators.ledger_day import MID, ledger_fixture, manifest_fixture  # noqa: F401 - fixtures


def test_the_rejects_beside_the_manifest_are_recorded_once(ledger, manifest: Path) -> None:
    (manifest.parent / "rejects.csv").write_text("order_id,reason\nsub-1,missing:card_token\n,invalid_amount\n"
                                                 "sub-2,pan_detected:payer.email\n", encoding="utf-8")  # fmt: skip
    op = RecordShipmentOperator(task_id="record_shipment", manifest=str(manifest))
    first = op.execute({})  # type: ignore[arg-type]
    assert (first["business_date"], first["files"], first["reject_events"]) == ("2026-11-24", 2, 2)
    assert op.execute({})["reject_events"] == 0  # type: ignore[arg-type]  # a rerun adds nothing
    reasons = {e["order_id"]: e["detail"] for o in ("sub-1", "sub-2") for e in ledger.order_events(MID, o)}
    assert reasons == {"sub-1": "missing:card_token", "sub-2": "pan_detected:payer.email"}


def test_manifest_and_ledger_are_templated() -> None:
    assert set(RecordShipmentOperator.template_fields) == {"manifest", "ledger_conn_id"}
