"""Fault 6: bad rows in the merchant DB are rejected with a reason and never shipped (PostgreSQL merchant DB)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.faults.harness import pg_conn
from tests.faults.invariants import TEST_PANS, check_invariants, scan_for_secrets, secret_needles

CLEAR_BAD = [
    "missing_amount",
    "missing_transaction_id",
    "missing_currency",
    "negative_amount",
    "unknown_currency",
    "pan_in_description",
    "pan_in_card_token",
    "pan_in_holder_name",
    "pan_spaced_in_email",
    "pan_in_decline_message",
    "duplicate_order",
]


@pytest.fixture
def pg_world(make_world, webhook_pg_factory):
    db = webhook_pg_factory("faults_badrows")
    name = db.url.rsplit("/", 1)[1]
    return make_world(
        merchant_url=db.url, merchant_conn=pg_conn(name), ledger_url=db.url, ledger_conn=pg_conn(name)
    )


def test_bad_rows_are_rejected_with_reasons_and_never_shipped(pg_world) -> None:
    world = pg_world
    day = world.business_day()
    world.add_declines(day, 5, bad=CLEAR_BAD)
    summary = world.extract(day)
    assert summary["rejected"] == len(CLEAR_BAD) - 1 + 1  # every bad kind, the duplicate's copy included
    world.ship(summary)
    world.mark(summary)
    world.process_acks(day)
    counts = check_invariants(world)
    assert counts["shipped"] == 6 and counts["rejected"] == len(CLEAR_BAD) - 1  # noqa: PT018
    # reasons say what is wrong, never the value
    with Path(summary["rejects_file"]).open(newline="") as fh:
        reasons = {r["order_id"]: r["reason"] for r in csv.DictReader(fh)}
    # whole reasons from the documented list (docs/batch-files.md), naming the column, never the value
    expected = {
        "missing_amount": "missing:amount_cents",
        "missing_transaction_id": "missing:transaction_id",
        "missing_currency": "missing:currency",
        "negative_amount": "invalid_amount",
        "unknown_currency": "invalid_currency",
        "pan_in_description": "pan_detected:dynamic_descriptor",
        "pan_in_card_token": "pan_detected:card_token",
        "pan_in_holder_name": "pan_detected:card_holder_name",
        "pan_spaced_in_email": "pan_detected:payer_email",
        "pan_in_decline_message": "pan_detected:response_description",
        "duplicate_order": "duplicate_order",  # the copy; the first row ships
    }
    for order_id, kind in world.expect.items():
        if kind in expected:
            assert reasons[order_id] == expected[kind], (kind, reasons[order_id])
    _, found = scan_for_secrets(
        [world.batch_dir, world.sftp_root / "archive"], secret_needles(world.sandbox.info)
    )
    assert not [f for f in found if "pan_" in f], found
    assert all(p not in str(reasons) for p in TEST_PANS)


@pytest.mark.parametrize(
    "kind",
    ["zero_amount", "unknown_currency_3", "expiry_in_past"],
)
def test_semantically_bad_rows_are_rejected_locally(make_world, tmp_path: Path, kind: str) -> None:
    """A zero amount, an ISO-4217-unknown 3-letter currency, an expiry in the past: rejected, never shipped."""
    world = make_world()
    day = world.business_day()
    sql = None
    if kind == "expiry_in_past":
        from tests.faults.harness import EXTRACT_SQL

        text = EXTRACT_SQL.read_text().replace(
            "o.payment_number          AS payment_number",
            "o.payment_number AS payment_number, "
            "CASE WHEN o.decline_code = 'XP' THEN '2020-01-01T00:00:00Z' END AS expiry_date_utc",
        )
        sql = tmp_path / "extract_with_expiry.sql"
        sql.write_text(text)
        ids = world.add_declines(day, 2, bad=["ok"])
        world.expect[ids[-1]] = kind
        with world.merchant.begin() as conn:
            from sqlalchemy import text as sql_text

            conn.execute(
                sql_text("UPDATE orders SET decline_code = 'XP' WHERE order_id = :o"), {"o": ids[-1]}
            )
    else:
        world.add_declines(day, 2, bad=[kind])
    summary = world.extract(day, **({"sql": sql} if sql else {}))
    with Path(summary["rejects_file"]).open(newline="") as fh:
        reasons = [r["reason"] for r in csv.DictReader(fh)]
    # one reason for one business problem: a zero amount is invalid_amount like a negative one
    assert reasons == [{"zero_amount": "invalid_amount", "unknown_currency_3": "invalid_currency"}.get(kind, kind)]
    world.ship(summary)
    world.mark(summary)
    world.process_acks(day)
    check_invariants(world)
