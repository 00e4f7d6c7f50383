"""
Everything the Flex view reads, in one place, read-only.

Three sources and nothing else:

* the merchant DB: ``flex_recovery_summary`` (one row per business date and currency) and the rejected
  ``orders`` (``flex_reject_reason`` set, never shipped), order id and reason only;
* the batch ledger, through :meth:`FlexLedger.files_for_day` (file name, kind, state, rows, ack);
* the webhook store, through :class:`WebhookStore` (recent events, without their payload).

Money leaves this module as decimal strings made from integer minor units by the currency's exponent
(:func:`flex_provider.money.format_major`). No card data and no secret is selected, so none can be shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field
from sqlalchemy import text

from flex_provider.money import MoneyError, format_major

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from flex_provider.batch.ledger import FlexLedger
    from flex_provider.webhooks.store import WebhookStore

#: Ledger file kinds the view lists for a day.
FILE_KINDS = ("evaluate", "transmit")
#: Ledger columns the view shows (the rest, such as hashes, stays out of the page).
_FILE_FIELDS = ("name", "kind", "state", "rows", "ack_status", "ack_error", "uploaded_at", "acknowledged_at")
_EVENT_FIELDS = ("id", "event", "order_id", "status", "amount", "currency", "is_resent", "received_at")


class DayRecovery(BaseModel):
    """One business date and currency of ``flex_recovery_summary``."""

    business_date: date
    currency: str
    declines_sent: int
    rejected: int
    pending: int
    rescued_count: int
    rescued_amount: str = Field(description="major units, e.g. '19.99' (from rescued_amount_cents)")
    rescued_amount_minor: int
    expired: int
    recovery_rate: str | None = Field(description="rescued / (rescued + expired) as a percentage, e.g. '41.2%'")


class BatchFile(BaseModel):
    """One file of the ledger for the selected day."""

    name: str
    kind: str
    state: str
    rows: int
    ack_status: str | None = None
    ack_error: str | None = None
    uploaded_at: datetime | None = None
    acknowledged_at: datetime | None = None


class Reject(BaseModel):
    """A decline of the selected day that was not shipped, with the reason the merchant reads."""

    order_id: str
    reason: str


class WebhookEvent(BaseModel):
    """A received webhook event (the stored payload is left out)."""

    id: int
    event: str
    order_id: str | None = None
    status: str | None = None
    amount: str | None = None
    currency: str | None = None
    is_resent: bool = False
    received_at: datetime


class FlexOverview(BaseModel):
    """What the Flex view shows: recovery by day, and the selected day's files and rejects."""

    days: list[DayRecovery]
    selected_day: date | None
    files: list[BatchFile]
    rejects: list[Reject]
    rejects_by_reason: dict[str, int]
    events: list[WebhookEvent]
    errors: list[str] = Field(default_factory=list, description="sources that could not be read")


def money(minor: int | None, currency: str | None) -> str | None:
    """Minor units as a decimal string; unknown currencies keep the integer and say so."""
    if minor is None:
        return None
    try:
        return format_major(int(minor), currency or "")
    except MoneyError:
        return f"{int(minor)} (minor units)"


def _rate(value: Any) -> str | None:
    if value is None:
        return None
    return f"{(Decimal(str(value)) * 100).quantize(Decimal('0.1'))}%"


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


@dataclass
class FlexViewSources:
    """The three read-only sources of the view; any may be None when not configured."""

    merchant_engine: Engine | None
    ledger: FlexLedger | None
    webhook_store: WebhookStore | None
    mid: str | None


def recovery_days(engine: Engine, *, limit: int = 60) -> list[DayRecovery]:
    """The newest ``limit`` rows of ``flex_recovery_summary``, oldest first (chart order)."""
    sql = text(
        "SELECT business_date, currency, declines_sent, rejected, pending, rescued_count, "
        "rescued_amount_cents, expired_count, recovery_rate FROM flex_recovery_summary "
        "ORDER BY business_date DESC, currency LIMIT :limit"
    )
    with engine.connect() as conn:
        rows = conn.execute(sql, {"limit": limit}).mappings().all()
    out = [
        DayRecovery(
            business_date=_day(r["business_date"]),
            currency=r["currency"] or "",
            declines_sent=int(r["declines_sent"]),
            rejected=int(r["rejected"]),
            pending=int(r["pending"]),
            rescued_count=int(r["rescued_count"]),
            rescued_amount=money(int(r["rescued_amount_cents"]), r["currency"]) or "0",
            rescued_amount_minor=int(r["rescued_amount_cents"]),
            expired=int(r["expired_count"]),
            recovery_rate=_rate(r["recovery_rate"]),
        )
        for r in rows
    ]
    return sorted(out, key=lambda d: (d.business_date, d.currency))


def rejects_for_day(engine: Engine, day: date, *, limit: int = 200) -> tuple[list[Reject], dict[str, int]]:
    """The day's rejected declines (first ``limit`` by order id) and the count per reason."""
    where = "flex_reject_reason IS NOT NULL AND flex_sent_at IS NULL AND flex_business_date = :d"
    params = {"d": day.isoformat(), "limit": limit}
    with engine.connect() as conn:
        counts = conn.execute(
            text(f"SELECT flex_reject_reason, COUNT(*) FROM orders WHERE {where} GROUP BY 1 ORDER BY 1"), params
        ).all()
        rows = conn.execute(
            text(f"SELECT order_id, flex_reject_reason FROM orders WHERE {where} ORDER BY order_id LIMIT :limit"),
            params,
        ).all()
    return [Reject(order_id=str(o), reason=str(r)) for o, r in rows], {str(r): int(n) for r, n in counts}


def files_for_day(ledger: FlexLedger, mid: str, day: date, kinds: Sequence[str] = FILE_KINDS) -> list[BatchFile]:
    """The ledger's files of that day, through its public ``files_for_day``."""
    files: list[BatchFile] = []
    for kind in kinds:
        for record in ledger.files_for_day(mid, kind, day):
            files.append(BatchFile(**{k: record.get(k) for k in _FILE_FIELDS}))
    return files


def recent_events(store: WebhookStore, *, limit: int = 25) -> list[WebhookEvent]:
    """The newest ``limit`` stored webhook events, newest first."""
    newest = store.max_event_id()
    rows = store.events_after(max(newest - limit, 0), limit=limit)
    events = [
        WebhookEvent(
            **{k: row.get(k) for k in _EVENT_FIELDS if k != "amount"},
            amount=money(row.get("amount"), row.get("currency")),
        )
        for row in rows
    ]
    return sorted(events, key=lambda e: e.id, reverse=True)


def load_overview(sources: FlexViewSources, day: date | None = None) -> FlexOverview:
    """Read everything the page shows; a source that fails is reported in ``errors``, not raised."""
    errors: list[str] = []
    days: list[DayRecovery] = []
    if sources.merchant_engine is not None:
        try:
            days = recovery_days(sources.merchant_engine)
        except Exception as exc:  # noqa: BLE001 - the page shows what it could read
            errors.append(f"merchant summary: {type(exc).__name__}")
    else:
        errors.append("merchant DB not configured")
    selected = day or (days[-1].business_date if days else None)
    rejects: list[Reject] = []
    by_reason: dict[str, int] = {}
    files: list[BatchFile] = []
    if selected is not None and sources.merchant_engine is not None:
        try:
            rejects, by_reason = rejects_for_day(sources.merchant_engine, selected)
        except Exception as exc:  # noqa: BLE001
            errors.append(f"merchant rejects: {type(exc).__name__}")
    if selected is not None and sources.ledger is not None and sources.mid:
        try:
            files = files_for_day(sources.ledger, sources.mid, selected)
        except Exception as exc:  # noqa: BLE001
            errors.append(f"ledger: {type(exc).__name__}")
    elif sources.ledger is None or not sources.mid:
        errors.append("ledger or MID not configured")
    events: list[WebhookEvent] = []
    if sources.webhook_store is not None:
        try:
            events = recent_events(sources.webhook_store)
        except Exception as exc:  # noqa: BLE001
            errors.append(f"webhook store: {type(exc).__name__}")
    else:
        errors.append("webhook store not configured")
    return FlexOverview(
        days=days, selected_day=selected, files=files, rejects=rejects, rejects_by_reason=by_reason,
        events=events, errors=errors,
    )
