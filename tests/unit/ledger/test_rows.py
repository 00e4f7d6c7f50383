"""A file's row records (flex_provider.ledger.rows): which orders another run or day already shipped."""

from __future__ import annotations

from datetime import timedelta

from flex_provider.ledger import FlexLedger
from tests.unit.ledger.facts import DAY, ship


def test_already_shipped_counts_other_days_kinds_and_merchants_apart(ledger: FlexLedger, mid: str) -> None:
    ship(ledger, mid, f"evaluate_{mid}_20261123_0001.json", 3, day=DAY - timedelta(days=1))
    ship(ledger, mid, f"evaluate_{mid}_20261124_0001.json", 3, start=3)
    ids = [f"o{i}" for i in range(8)]
    assert ledger.already_shipped(mid, "evaluate", ids) == {f"o{i}" for i in range(6)}
    assert ledger.already_shipped(mid, "evaluate", ids, exclude_business_date=DAY) == {"o0", "o1", "o2"}
    assert ledger.already_shipped_callback(mid, "evaluate", DAY)(ids) == {"o0", "o1", "o2"}
    assert ledger.already_shipped(mid, "transmit", ids) == set()
    assert ledger.already_shipped("other", "evaluate", ids) == set()
    assert (
        len(ledger.already_shipped(mid, "evaluate", [f"o{i}" for i in range(2500)])) == 6
    )  # chunked IN lists
