"""``RecordShipmentOperator``'s input: the writer's rejects CSV, read with the whole reason."""

from __future__ import annotations

from pathlib import Path

from flex_provider.operators.mark import RecordShipmentOperator, read_rejects


def test_read_rejects_keeps_order_id_and_whole_reason(tmp_path: Path) -> None:
    path = tmp_path / "rejects.csv"
    path.write_text("order_id,reason\nsub-1,missing:card_token\n,invalid_amount\nsub-2,pan_detected:payer.email\nsub-3,\n",
                    encoding="utf-8")  # fmt: skip
    assert list(read_rejects(path)) == [("sub-1", "missing:card_token"), ("sub-2", "pan_detected:payer.email"), ("sub-3", "")]


def test_no_rejects_file_is_no_rejects(tmp_path: Path) -> None:
    assert list(read_rejects(tmp_path / "absent.csv")) == []


def test_manifest_and_ledger_are_templated() -> None:
    assert set(RecordShipmentOperator.template_fields) == {"manifest", "ledger_conn_id"}
