"""Gather Flex's outcomes into the ledger: webhook events and the overdue sweep (GET /orders pages)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from flex_provider.models.limits import FLEX_ID_MAX, ORDER_ID_MAX
from flex_provider.operators.common import FLEX_CONN_ID, LEDGER_CONN_ID, resolve_mid
from flex_provider.utc import parse_utc, utc_now

if TYPE_CHECKING:
    from airflow.sdk import Context

    from flex_provider.ledger import FlexLedger, OrderEvent

log = logging.getLogger(__name__)

#: Webhook events re-read before the watermark: ids of concurrent receivers may commit out of order.
WEBHOOK_OVERLAP = 1000


def _fits_ledger(row: dict[str, Any]) -> bool:
    """
    Whether the ledger can hold a stored webhook's ids. A longer merchant order id cannot be an order we
    shipped, and Flex's keys and confirmation codes are short; such an event stays in the webhook store
    only (counted ``unusable``), so that one odd delivery cannot stop every other outcome.
    """
    return (
        len(row["external_order_id"] or "") <= ORDER_ID_MAX
        and len(row["order_id"] or "") <= FLEX_ID_MAX
        and len(row["confirmation_id"] or "") <= FLEX_ID_MAX
    )


def webhook_events(ledger: FlexLedger, conn_id: str, mid: str) -> dict[str, int]:
    """
    Append the webhook store's new events (``flex_webhook_events``) to the ledger as ``webhook`` facts,
    keyed by the receiver's dedupe key (Event, OrderId, TimeStamp), with Flex's TimeStamp.
    """
    from flex_provider.ledger.events import OrderEvent
    from flex_provider.merchant.db import engine_for_conn, table_exists
    from flex_provider.webhooks.store import WebhookStore

    engine = engine_for_conn(conn_id)
    counts = {"read": 0, "stored": 0, "unusable": 0}
    try:
        if not table_exists(engine, "flex_webhook_events"):
            return counts
        store = WebhookStore(engine, create=False)
        name = f"webhooks:{mid}"
        after = max(0, ledger.get_mark(name) - WEBHOOK_OVERLAP)
        top = after
        while True:
            rows = store.events_after(after, limit=5000)
            if not rows:
                break
            after = rows[-1]["id"]
            top = max(top, after)
            counts["read"] += len(rows)
            fits = [_fits_ledger(r) for r in rows]
            if not all(fits):
                unusable = [r["id"] for r, ok in zip(rows, fits, strict=True) if not ok]
                log.warning("Webhook events %s carry ids longer than the ledger holds; left in the store", unusable)
                counts["unusable"] += len(unusable)
                rows = [r for r, ok in zip(rows, fits, strict=True) if ok]
            unknown = [r["order_id"] for r in rows if not r["external_order_id"] and r["order_id"]]
            by_key = ledger.orders_by_session_key(mid, unknown) if unknown else {}

            def events(
                batch: list[dict[str, Any]] = rows, keys: dict[str, str] = by_key
            ) -> Iterator[OrderEvent]:
                for r in batch:
                    order_id = r["external_order_id"] or keys.get(r["order_id"] or "")
                    if not order_id or r["status"] is None:
                        continue
                    yield OrderEvent(
                        mid=mid,
                        order_id=order_id,
                        kind="webhook",
                        event_key=r["dedupe_key"],
                        status=r["status"],
                        order_session_key=r["order_id"],
                        confirmation_id=r["confirmation_id"],
                        amount_minor=r["amount"],
                        currency=(r["currency"] or None) and str(r["currency"])[:3],
                        flex_time=r["event_ts"],
                        detail=r["event"],
                    )

            counts["stored"] += ledger.append_events(events())
        ledger.set_mark(name, top)
    finally:
        engine.dispose()
    return counts


class ReconcileOrdersOperator(BaseOperator):
    """
    Gather Flex's outcomes into the ledger (it writes nothing to the merchant DB: the projection does).

    1. Webhook events stored by the receiver (``flex_webhook_events`` on ``webhook_conn_id``) become
       ``webhook`` events of the ledger (after a stored watermark, re-reading a margin; duplicates are free).
    2. With ``sweep``: orders still pending whose rescue window ended ``sweep_grace_minutes`` before
       ``sweep_as_of`` are answered from ``GET /orders`` pages (:class:`~flex_provider.operators.sweep.OrderSweep`).

    :param ledger_conn_id: SQL connection of the ledger.
    :param webhook_conn_id: SQL connection of the webhook store (default: the ledger's).
    :param flex_conn_id: ``flex`` connection for the sweep.
    :param mid: merchant id (templated; default from the ``flex`` connection).
    :param sweep: run the overdue sweep.
    :param sweep_limit: most overdue orders per run.
    :param sweep_page_size: ``GET /orders`` page size.
    :param sweep_grace_minutes: minutes after the expiry before an order counts as overdue.
    :param sweep_as_of: the "now" of the sweep (templated ISO date-time; default the real clock).
    """

    template_fields: Sequence[str] = ("ledger_conn_id", "webhook_conn_id", "mid", "sweep_as_of")
    ui_color = "#f4ecf7"

    def __init__(
        self,
        *,
        ledger_conn_id: str = LEDGER_CONN_ID,
        webhook_conn_id: str | None = None,
        flex_conn_id: str = FLEX_CONN_ID,
        mid: str | None = None,
        sweep: bool = True,
        sweep_limit: int = 100_000,
        sweep_page_size: int = 100,
        sweep_grace_minutes: float = 60.0,
        sweep_as_of: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.ledger_conn_id = ledger_conn_id
        self.webhook_conn_id = webhook_conn_id
        self.flex_conn_id = flex_conn_id
        self.mid = mid
        self.sweep = sweep
        self.sweep_limit = sweep_limit
        self.sweep_page_size = sweep_page_size
        self.sweep_grace_minutes = sweep_grace_minutes
        self.sweep_as_of = sweep_as_of

    def execute(self, context: Context) -> dict[str, Any]:
        from flex_provider.ledger import FlexLedger

        mid = resolve_mid(self.mid, self.flex_conn_id)
        ledger = FlexLedger(self.ledger_conn_id)
        out: dict[str, Any] = {}
        try:
            out["webhooks"] = webhook_events(ledger, self.webhook_conn_id or self.ledger_conn_id, mid)
            if self.sweep:
                from flex_provider.hooks.api import FlexApiHook
                from flex_provider.operators.sweep import OrderSweep

                as_of = parse_utc(self.sweep_as_of) if self.sweep_as_of else utc_now()
                if as_of is None:
                    raise ValueError(f"sweep_as_of is no ISO 8601 instant: {self.sweep_as_of!r}")
                cutoff = as_of - timedelta(minutes=self.sweep_grace_minutes)
                with FlexApiHook(self.flex_conn_id) as api:
                    sweep = OrderSweep(
                        ledger, api, mid, page_size=self.sweep_page_size, limit=self.sweep_limit
                    )
                    out["sweep"] = sweep.run(cutoff)
        finally:
            ledger.engine.dispose()
        self.log.info("Reconciled into the ledger: %s", out)
        return out


_COUNTS = ("declines_sent", "rejected", "pending", "rescued_count", "expired_count", "cancelled_count",
           "refunded_count")  # fmt: skip


def recovery_totals(engine: Any) -> dict[str, Any]:
    """
    Totals over ``flex_recovery_summary`` (all dates), for logs and XCom. Amounts are never added across
    currencies: ``rescued_amount_minor`` maps each currency to its rescued minor units.
    """
    from sqlalchemy import column, func, select, table

    summary = table("flex_recovery_summary", *(column(c) for c in (*_COUNTS, "currency", "rescued_amount_cents")))
    with engine.connect() as conn:
        counts = conn.execute(select(*(func.coalesce(func.sum(summary.c[c]), 0) for c in _COUNTS))).one()
        amounts = conn.execute(
            select(summary.c.currency, func.coalesce(func.sum(summary.c.rescued_amount_cents), 0))
            .group_by(summary.c.currency)
            .order_by(summary.c.currency)
        ).all()
    sent, rejected, pending, rescued, expired, cancelled, refunded = (int(v) for v in counts)
    settled = rescued + expired
    return {
        "declines_sent": sent,
        "rejected": rejected,
        "pending": pending,
        "rescued": rescued,
        "rescued_amount_minor": {str(cur): int(amount) for cur, amount in amounts if int(amount)},
        "expired": expired,
        "cancelled": cancelled,
        "refunded": refunded,
        "recovery_rate": round(rescued / settled, 4) if settled else None,
    }
