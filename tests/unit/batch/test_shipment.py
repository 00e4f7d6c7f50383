"""``flex_provider.batch.shipment``: what a ship task uploads, from the manifest and the ledger (SQLite)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from flex_provider.batch.day_files import write_day_files
from flex_provider.batch.shipment import ShipmentError, plan_shipment
from flex_provider.digest import sha256_file
from flex_provider.ledger import FlexLedger
from flex_provider.models.batch import AckFile
from tests.fixtures.batch import source_row

DAY = date(2026, 11, 24)


@pytest.fixture
def day(ledger, mid: str, tmp_path: Path) -> dict:
    """Three files of ten rows written for DAY, nothing shipped."""
    rows = [source_row(i) for i in range(30)]
    return write_day_files([rows], ledger=ledger, kind="evaluate", mid=mid, business_date=DAY,
                           out_dir=tmp_path / "out", rows_per_file=10)


def _uploaded(ledger: FlexLedger, path: Path) -> None:
    ledger.mark_uploaded(path.name, path.stat().st_size, sha256_file(path))


def _reject(ledger: FlexLedger, mid: str, name: str) -> None:
    ledger.apply_ack(AckFile(file_type="ack", inbound_file=name, mid=mid, status="REJECTED", row_count=10,
                             accepted=0, rejected=10, received_at_utc=datetime(2026, 11, 24, 7, tzinfo=timezone.utc),
                             file_errors=["authorization token expired"]))


def test_new_files_are_planned_in_order_and_recorded_only_when_their_turn_comes(ledger, mid: str, day) -> None:
    shipment = plan_shipment(day["manifest"], ledger)
    assert [p.name for p in shipment.plans] == day["files"]
    assert [p.rows for p in shipment.plans] == [10, 10, 10]
    assert shipment.skipped == [] and shipment.resend == []  # noqa: PT018
    first = shipment.plans[0]
    assert ledger.file_state(first.name) is None  # planning records nothing
    assert first.record is not None and first.record() is True  # noqa: PT018
    assert ledger.file_state(first.name) == "written"
    recorded = list(ledger.rows_for_files([first.name]))
    assert [r["order_id"] for r in recorded] == [source_row(i)["order_id"] for i in range(10)]


def test_uploaded_files_are_skipped_so_a_rerun_ships_nothing_twice(ledger, mid: str, day) -> None:
    plans = plan_shipment(day["manifest"], ledger).plans
    for plan in plans[:2]:
        assert plan.record is not None and plan.record()  # noqa: PT018
        _uploaded(ledger, plan.path)
    again = plan_shipment(day["manifest"], ledger)
    assert again.skipped == day["files"][:2]
    assert [p.name for p in again.plans] == day["files"][2:]


def test_record_says_no_upload_when_a_concurrent_run_uploaded_the_file_meanwhile(ledger, mid: str, day) -> None:
    mine = plan_shipment(day["manifest"], ledger).plans[0]
    theirs = plan_shipment(day["manifest"], ledger).plans[0]
    assert theirs.record is not None and theirs.record()  # noqa: PT018
    _uploaded(ledger, theirs.path)
    assert mine.record is not None and mine.record() is False  # noqa: PT018


def test_a_file_flex_rejected_is_sent_again_byte_for_byte(ledger, mid: str, day) -> None:
    first = plan_shipment(day["manifest"], ledger).plans[0]
    assert first.record is not None and first.record()  # noqa: PT018
    _uploaded(ledger, first.path)
    _reject(ledger, mid, first.name)
    again = plan_shipment(day["manifest"], ledger)
    resend = next(p for p in again.plans if p.name == first.name)
    assert resend.resend and resend.record is None  # noqa: PT018  (already recorded: no second record)
    assert again.resend == [first.name]
    assert again.rejections == {first.name: "authorization token expired"}


def test_a_rejected_file_whose_bytes_changed_is_refused(ledger, mid: str, day) -> None:
    first = plan_shipment(day["manifest"], ledger).plans[0]
    assert first.record is not None and first.record()  # noqa: PT018
    _uploaded(ledger, first.path)
    _reject(ledger, mid, first.name)
    first.path.write_bytes(first.path.read_bytes() + b"\n")
    with pytest.raises(ShipmentError, match="differs from the file recorded"):
        plan_shipment(day["manifest"], ledger)


def test_a_file_neither_in_the_manifest_nor_rejected_is_refused(ledger, mid: str, day) -> None:
    with pytest.raises(ShipmentError, match="neither in"):
        plan_shipment(day["manifest"], ledger, files=["evaluate_nobody_20261124_0099.json"])


def test_record_shipment_appends_shipped_and_local_reject_facts_once(ledger, mid: str, tmp_path: Path) -> None:
    from flex_provider.batch.shipment import record_shipment

    rows = [source_row(i) for i in range(12)]
    rows[3] = source_row(3, currency="usd")  # rejected locally: invalid_currency
    day = write_day_files([rows], ledger=ledger, kind="evaluate", mid=mid, business_date=DAY,
                          out_dir=tmp_path / "out", rows_per_file=10)
    for plan in plan_shipment(day["manifest"], ledger).plans:
        assert plan.record is not None and plan.record()  # noqa: PT018
        _uploaded(ledger, plan.path)
    first = record_shipment(day["manifest"], ledger)
    assert first["files"] == 2 and first["reject_events"] == 1  # noqa: PT018
    state = ledger.order_state(mid, source_row(3)["order_id"])
    assert state["status"] == "LOCAL_REJECTED" and state["local_reason"] == "invalid_currency"  # noqa: PT018
    shipped = ledger.order_state(mid, source_row(11)["order_id"])
    assert shipped["status"] == "SHIPPED" and shipped["batch_file"] == day["files"][1]  # noqa: PT018
    again = record_shipment(day["manifest"], ledger)
    assert again["shipped_events"] == 0 and again["reject_events"] == 0  # noqa: PT018
