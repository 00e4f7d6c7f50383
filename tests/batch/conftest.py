"""The batch feature suite's helpers live in ``tests/fixtures/batch.py`` (rows) and ``ledger.py`` (fixtures)."""

from __future__ import annotations

from tests.fixtures.batch import MID, PAN, PAN_SPACED, chunks, source_row

__all__ = ["MID", "PAN", "PAN_SPACED", "chunks", "source_row"]
