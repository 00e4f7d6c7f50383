"""Shared helpers of the batch tests: flat source rows and a ledger on SQLite or PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from flex_provider.batch.ledger import FlexLedger

MID = "6c5b7d1e-1a2b-4c3d-8e9f-0a1b2c3d4e5f"
# Luhn-valid test PANs (never written anywhere by the code under test).
PAN = "4111111111111111"
PAN_SPACED = "5555 5555 5555 4444"


def source_row(i: int, **overrides: Any) -> dict[str, Any]:
    """One flat decline row as a SQL extract would give it."""
    row: dict[str, Any] = {
        "order_id": f"sub-{i}-2026-11",
        "transaction_id": f"psp-tx-{i}",
        "amount_cents": 1999 + i % 7,
        "currency": "USD",
        "declined_at": "2026-11-24T06:00:00Z",
        "response_code": "05",
        "card_token": f"tok_{i:010d}",
        "card_bin": "400000",
        "card_last4": "3184",
        "exp_month": 9,
        "exp_year": 2027,
        "payer_id": f"cust-{i}",
        "payer_email": f"payer{i}@example.com",
        "billing_country_code": "US",
        "billing_city": "Springfield",
        "subscription_id": f"sub-{i}",
        "payment_number": "5",
    }
    row.update(overrides)
    return row


def chunks(n: int, size: int, start: int = 0) -> Iterator[list[dict[str, Any]]]:
    """Rows ``start..start+n-1`` as lists of ``size`` dicts, built lazily."""
    for first in range(start, start + n, size):
        yield [source_row(i) for i in range(first, min(first + size, start + n))]


@pytest.fixture(params=["sqlite", "postgres"])
def ledger(request: pytest.FixtureRequest, tmp_path) -> Iterator[FlexLedger]:
    """A ledger on a fresh SQLite file, or on the session's PostgreSQL database."""
    if request.param == "sqlite":
        led = FlexLedger.from_url(f"sqlite:///{tmp_path / 'ledger.db'}")
    else:
        led = FlexLedger.from_url(request.getfixturevalue("pg_url"))
    yield led
    led.engine.dispose()


@pytest.fixture
def mid() -> str:
    """A merchant id unique to the test, so tests can share the PostgreSQL database."""
    return str(uuid.uuid4())
