"""The outbound registry (flex_provider.ledger.outbound): a file read or set aside is never read twice."""

from __future__ import annotations

import pytest

from flex_provider.ledger import FlexLedger


def test_outbound_files_are_marked_once_read_or_quarantined(ledger: FlexLedger, mid: str) -> None:
    name = f"result_{mid}_1.json"
    assert name not in ledger.processed_outbound_names()
    ledger.mark_outbound_processed(name, "a" * 64, "result", "quarantined", "bad row")
    assert name in ledger.processed_outbound_names()
    ledger.mark_outbound_processed(name, "a" * 64, "result", "processed")
    assert name in ledger.processed_outbound_names()
    with pytest.raises(ValueError, match="status"):
        ledger.mark_outbound_processed(name, None, "result", "done")
