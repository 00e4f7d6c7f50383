"""
The overdue sweep: ask Flex, a page at a time, what became of orders whose rescue window ended.

:class:`OrderSweep` reads the orders still pending in the ledger (SHIPPED or SUBMITTED, expiry before the
cut-off), pages through ``GET /orders`` (final statuses, placed since the stored watermark
``sweep:<mid>``, a Flex time) until every one of them is answered, and asks ``GET /orders/{id}`` only for
the ones the list did not hold (still open at Flex, or placed before the watermark). Each final order
becomes a ``sweep`` event with Flex's own time (completed or last-updated date), folded like any other
fact: the ledger's precedence lets Flex's read win within a rank. P overdue orders cost about
``ceil(P / page_size)`` calls, not P. The list starts at the later of the watermark and an hour before
the earliest Flex ack time of the overdue orders (Flex's own clock, from the ack events).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from flex_provider.ledger.events import OrderEvent

log = logging.getLogger(__name__)

#: Flex order status code -> outcome.
ORDER_STATUS_OUTCOME = {7: "APPROVED", 8: "EXPIRED", 2: "CANCELLED", 6: "REFUNDED"}


def sweep_event(mid: str, order_id: str, order: Any) -> OrderEvent | None:
    """The ``sweep`` fact of one order read from Flex, None while Flex has no outcome for it."""
    outcome = ORDER_STATUS_OUTCOME.get(int(order.status))
    if outcome is None:
        return None
    when = order.completed_date if outcome == "APPROVED" and order.completed_date else order.last_updated_date
    return OrderEvent(
        mid=mid,
        order_id=order_id,
        kind="sweep",
        event_key=f"{order.id}:{outcome}:{order.refunded_amount or 0}",
        status=outcome,
        order_session_key=order.id,
        confirmation_id=order.confirmation_id,
        amount_minor=order.amount,
        currency=order.currency_code,
        flex_time=when or order.expiry_date,
    )


class OrderSweep:
    """
    One sweep of one merchant's overdue orders.

    :param ledger: a :class:`~flex_provider.ledger.FlexLedger`.
    :param api: an open :class:`~flex_provider.hooks.api.FlexApiHook`.
    :param page_size: ``GET /orders`` page size (Flex allows up to 100).
    :param limit: most overdue orders handled per sweep.
    """

    def __init__(self, ledger: Any, api: Any, mid: str, *, page_size: int = 100, limit: int = 100_000) -> None:
        self.ledger = ledger
        self.api = api
        self.mid = mid
        self.page_size = page_size
        self.limit = limit

    @property
    def mark_name(self) -> str:
        return f"sweep:{self.mid}"

    def run(self, cutoff: datetime) -> dict[str, int]:
        """Sweep orders overdue at ``cutoff``; returns counts (``overdue``, ``final``, ``list_pages``, ...)."""
        pending = self.ledger.pending_orders(
            self.mid, as_of=cutoff, statuses=("SHIPPED", "SUBMITTED"), limit=self.limit
        )
        counts = {"overdue": len(pending), "final": 0, "list_pages": 0, "order_calls": 0, "stored": 0}
        if not pending:
            return counts
        by_id = {p["order_id"]: p for p in pending}
        by_key = {p["order_session_key"]: p["order_id"] for p in pending if p.get("order_session_key")}
        mark = self.ledger.get_mark(self.mark_name)
        since = datetime.fromtimestamp(mark, timezone.utc) if mark else None
        # Flex places an order when it reads our file, just before it writes the ack: nothing overdue can
        # have been placed much before the earliest ack time of the overdue orders (Flex's clock).
        acked = self.ledger.first_ack_time(self.mid, as_of=cutoff)
        if acked is not None:
            floor = acked - timedelta(hours=1)
            since = floor if since is None or floor > since else since
        events: list[OrderEvent] = []
        answered: set[str] = set()
        newest_placed: datetime | None = None
        seen = 0
        for order in self.api.list_orders(
            status=sorted(ORDER_STATUS_OUTCOME), from_=since, page_size=self.page_size
        ):
            seen += 1
            order_id = by_key.get(order.id) or (
                order.external_order_id if order.external_order_id in by_id else None
            )
            if order_id is None or order_id in answered:
                continue
            event = sweep_event(self.mid, order_id, order)
            if event is not None:
                answered.add(order_id)
                events.append(event)
                if order.order_placed_date and (newest_placed is None or order.order_placed_date > newest_placed):
                    newest_placed = order.order_placed_date
            if len(answered) == len(by_id):
                break
        counts["list_pages"] = max(1, -(-seen // self.page_size))
        oldest_open: datetime | None = None
        for order_id, row in by_id.items():
            key = row.get("order_session_key")
            if order_id in answered or not key:
                continue
            order = self.api.get_order(key)  # the list could not answer for this one
            counts["order_calls"] += 1
            event = sweep_event(self.mid, order_id, order)
            if event is None:
                placed = order.order_placed_date
                if placed and (oldest_open is None or placed < oldest_open):
                    oldest_open = placed
                continue
            events.append(event)
        counts["final"] = len(events)
        counts["stored"] = self.ledger.append_events(events) if events else 0
        # Orders placed before the watermark are all answered (or fall back to one call each).
        new_mark = oldest_open or newest_placed
        if new_mark is not None:
            self.ledger.set_mark(self.mark_name, int(new_mark.timestamp()))
        log.info("Sweep of %s: %s", self.mid, counts)
        return counts
