"""
The Flex ledger: the file registry, every fact about an order as an event, each order's folded state,
and the one projection of that state into the merchant's books.

Modules: ``schema`` (tables), ``base`` (engine), ``files`` (file registry), ``outbound`` (outbound files
read), ``events`` (the :class:`OrderEvent` model and its builders), ``state`` (the fold), ``orders``
(append + fold in one transaction), ``views`` (reads), ``projection`` (state -> merchant DB), ``replay``
(re-fold and re-project stored events).
"""

from __future__ import annotations

from flex_provider.ledger.events import KINDS, OrderEvent
from flex_provider.ledger.schema import (
    BATCH_SIZE,
    FILE_STATES,
    SHIPPED_STATES,
    LedgerConflictError,
    batch_files,
    batch_rows,
    file_number,
    ledger_marks,
    order_events,
    order_state,
    outbound_files,
)
from flex_provider.ledger.views import OrderViews

#: Order statuses (``flex_order_state.status``) that end Flex's part.
FINAL = ("APPROVED", "EXPIRED", "CANCELLED", "REFUNDED")
NON_FINAL = ("SHIPPED", "SUBMITTED", "REJECTED")


class FlexLedger(OrderViews):
    """
    The ledger on an Airflow SQL connection (``FlexLedger(conn_id)``) or a URL (``FlexLedger.from_url``).

    File registry (``record_file``, ``record_rows``, ``mark_uploaded`` ...), order events
    (``append_events``, ``apply_ack``, ``apply_results``) and state (``order_state``, ``pending_orders``).
    """


__all__ = [
    "BATCH_SIZE",
    "FILE_STATES",
    "FINAL",
    "KINDS",
    "NON_FINAL",
    "SHIPPED_STATES",
    "FlexLedger",
    "LedgerConflictError",
    "OrderEvent",
    "batch_files",
    "batch_rows",
    "file_number",
    "ledger_marks",
    "order_events",
    "order_state",
    "outbound_files",
]
