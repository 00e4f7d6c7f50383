"""
Whole-column checks (flex_provider.batch.checks): each bad row gets the documented reason of its first
problem (docs/batch-files.md "Rejects"), never its value; card numbers are found in any column.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import polars as pl
import pytest

from flex_provider.batch.checks import check_chunk, pan_mask, safe_order_id
from flex_provider.batch.coerce import to_chunk
from flex_provider.pci import looks_like_pan
from tests.fixtures.batch import MID, PAN, PAN_SPACED, source_row

NOW = datetime(2026, 11, 25, 6, tzinfo=timezone.utc)
GUID = "6c5b7d1e-1a2b-4c3d-8e9f-0a1b2c3d4e5f"

# (what is wrong with the row, as the docs' table gives it) -> (field, reason)
CASES: list[tuple[dict[str, Any], tuple[str, str]]] = [
    ({"card_bin": PAN}, ("card_bin", "pan_detected:card_bin")),
    ({"notes": f"card {PAN_SPACED} on file"}, ("notes", "pan_detected:notes")),
    ({"mid": "another-mid"}, ("mid", "mid_mismatch")),
    ({"order_id": None}, ("order_id", "missing:order_id")),
    ({"transaction_id": "  "}, ("transaction_id", "missing:transaction_id")),
    ({"currency": None}, ("currency", "missing:currency")),
    ({"amount_cents": 0}, ("amount_cents", "invalid_amount")),
    ({"amount_cents": -1999}, ("amount_cents", "invalid_amount")),
    ({"amount_cents": "12x"}, ("amount_cents", "invalid_amount")),
    ({"amount_cents": 19.5}, ("amount_cents", "invalid_amount")),
    ({"subscription_price_cents": -1}, ("subscription_price_cents", "invalid_amount")),
    ({"currency": "usd"}, ("currency", "invalid_currency")),
    ({"currency": "US"}, ("currency", "invalid_currency")),
    ({"currency": "ZZQ"}, ("currency", "invalid_currency")),
    ({"billing_country_code": "USA"}, ("billing_country_code", "too_long:billing_country_code")),
    ({"exp_month": 13}, ("exp_month", "invalid:exp_month")),
    ({"card_last4": "31845"}, ("card_last4", "invalid:card_last4")),
    ({"card_bin": "4000"}, ("card_bin", "invalid:card_bin")),
    ({"declined_at": "yesterday"}, ("declined_at", "invalid:declined_at")),
    ({"is_recurring": "maybe"}, ("is_recurring", "invalid:is_recurring")),
    ({"card_token": None}, ("card_token", "missing_card_token")),
    ({"expiry_date_utc": "2026-11-25T06:00:00Z"}, ("expiry_date_utc", "expiry_in_past")),
]


def _check(rows: list[dict[str, Any]], **kw: Any):
    kw.setdefault("kind", "evaluate")
    return check_chunk(to_chunk(rows), mid=MID, default_expiry=kw.pop("default_expiry", None), now=NOW, **kw)


@pytest.mark.parametrize(
    ("change", "expected"), CASES, ids=[e[1] + "-" + str(i) for i, (_, e) in enumerate(CASES)]
)
def test_each_problem_gets_its_documented_reason(change: dict[str, Any], expected: tuple[str, str]) -> None:
    rows = [source_row(0), source_row(1, **change), source_row(2)]
    checked = _check(rows)
    assert checked.reason.to_list() == [None, expected[1], None]
    assert checked.field.to_list() == [None, expected[0], None]


def test_the_first_problem_wins_in_the_documented_order() -> None:
    rows = [
        source_row(0, currency="usd", amount_cents=0, mid="other", card_bin=PAN),  # pan first
        source_row(1, currency="usd", amount_cents=0, mid="other"),  # then mid_mismatch
        source_row(2, currency="usd", amount_cents=0, order_id=None),  # then model order: order_id first
        source_row(3, currency=None, amount_cents="x"),  # amount before currency in the model
    ]
    assert _check(rows).reason.to_list() == [
        "pan_detected:card_bin", "mid_mismatch", "missing:order_id", "invalid_amount",
    ]  # fmt: skip


def test_transmit_rows_need_no_card_token_and_have_no_rescue_window() -> None:
    rows = [source_row(0, card_token=None, expiry_date_utc="2026-11-01T00:00:00Z")]
    assert _check(rows, kind="transmit").reason.to_list() == [None]


def test_the_file_default_expiry_counts_for_rows_without_their_own() -> None:
    rows = [source_row(0), source_row(1, expiry_date_utc="2026-12-01T00:00:00Z")]
    past = datetime(2026, 11, 25, 5, tzinfo=timezone.utc)
    assert _check(rows, default_expiry=past).reason.to_list() == ["expiry_in_past", None]


def test_a_card_number_as_order_id_never_reaches_the_rejects_file() -> None:
    checked = _check([source_row(0, order_id=PAN), source_row(1)])
    assert checked.reason.to_list()[0] == "pan_detected:order_id"
    assert checked.order_id.to_list() == [None, "sub-1-2026-11"]
    assert safe_order_id(PAN) is None
    assert safe_order_id(int(PAN)) is None
    assert safe_order_id(" sub-1 ") == "sub-1"


def test_pan_scan_finds_what_luhn_finds_value_by_value() -> None:
    values = [PAN, "4111111111111112", PAN_SPACED, "5555-5555-5555-4444", GUID, f"x{PAN}y", "123456789012",
              "order 1234", None, "", "4111 1111 1111 1111 and more", "4111  1111 1111 1111"]  # fmt: skip
    expected = [looks_like_pan(v) if v is not None else False for v in values]
    assert expected[:5] == [True, False, True, True, False]  # Luhn decides; a GUID is not a card number
    assert pan_mask(pl.Series(values, dtype=pl.String)).to_list() == expected
    assert pan_mask(values).to_list() == expected  # the value-by-value path (mixed columns)
    numbers = [int(PAN), 4111111111111112, 10**12 - 1, None]
    assert pan_mask(pl.Series(numbers, dtype=pl.Int64)).to_list() == [True, False, False, False]
    assert pan_mask(pl.Series([float(PAN), 1.5], dtype=pl.Float64)).to_list() == [True, False]
