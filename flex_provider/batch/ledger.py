"""The batch ledger's old import path: everything now lives in :mod:`flex_provider.ledger`."""

from __future__ import annotations

from flex_provider.ledger import (
    BATCH_SIZE,
    FILE_STATES,
    FINAL,
    NON_FINAL,
    SHIPPED_STATES,
    FlexLedger,
    LedgerConflictError,
    OrderEvent,
    batch_files,
    batch_rows,
    copy_rows,
    file_number,
    order_events,
    order_state,
    outbound_files,
)

__all__ = [
    "BATCH_SIZE",
    "FILE_STATES",
    "FINAL",
    "NON_FINAL",
    "SHIPPED_STATES",
    "FlexLedger",
    "LedgerConflictError",
    "OrderEvent",
    "batch_files",
    "batch_rows",
    "copy_rows",
    "file_number",
    "order_events",
    "order_state",
    "outbound_files",
]
