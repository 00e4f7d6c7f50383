"""
Order events: every fact about an order, appended once.

An :class:`OrderEvent` is one fact (a row shipped in a file, Flex's ack or result row, a webhook, an order
read by the sweep, a refund or cancel asked and answered). It is unique by ``(mid, kind, event_key)``,
the natural key of the fact, so storing it again (a rerun, a replayed file, a duplicated webhook) is free:
``INSERT ... ON CONFLICT DO NOTHING``. Flex's own time goes into ``flex_time`` where Flex gives one.

Kinds and their natural keys:

==================  ===========================================  ======================================
kind                event_key                                    status
==================  ===========================================  ======================================
``shipped``         ``<batch file>:<sequence number>``           SHIPPED
``evaluated``       idempotency key (POST /evaluate)             SHIPPED
``rejected_local``  ``<business date>:<order>:<reason>``         (none: ``detail`` is the whole reason)
``ack``             ``<file>:<sequence number>:<order>:<status>``  SUBMITTED / REJECTED (``detail``: errors)
``result``          ``<result file>:<row index>``                APPROVED / EXPIRED / CANCELLED / REFUNDED
``webhook``         the receiver's dedupe key (Event, OrderId,   same, as the webhook says
                    TimeStamp)
``sweep``           ``<orderSessionKey>:<status>:<refunded>``    same, as GET /orders says
``refund_requested``  ``<order>:<request id>``                     (none; ``detail``: idempotency key)
``refund_answered``   Flex's transactionId (or the request id)   SUCCESS / FAILED
``cancel_requested``  request id                                 (none)
``cancel_answered``   Flex's answer id (or the request id)       SUCCESS / FAILED
==================  ===========================================  ======================================

Precedence (see ``flex_provider.ledger.state``) is encoded per event as ``sort_key``, a string whose
maximum over an order's events is the winning status: rank, then source, then Flex time, then a tie
order, then the status (39 characters, fixed width). Events equal in all of these speak for the same
status, so the maximum, and the status read from it, never depend on arrival order. (Keys stored before
carried ``kind:event_key`` after the status; they compare the same on the first 39 characters.)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from flex_provider.ledger.schema import EVENT_COLUMNS
from flex_provider.utc import to_utc

KINDS = (
    "shipped",
    "evaluated",
    "rejected_local",
    "ack",
    "result",
    "webhook",
    "sweep",
    "refund_requested",
    "refund_answered",
    "cancel_requested",
    "cancel_answered",
)
#: Kinds whose status is Flex's outcome for the order.
OUTCOME_KINDS = ("result", "webhook", "sweep")

#: status -> (rank, tie order within the rank). Ranks only rise: shipped < acknowledged < final <
#: voided/refunded. Within a rank the later Flex time wins; at equal times SUBMITTED beats REJECTED
#: (Flex holds the order) and APPROVED beats EXPIRED (money Flex reports collected is a fact).
STATUS_RANK: dict[str, tuple[int, int]] = {
    "SHIPPED": (1, 0),
    "REJECTED": (2, 0),
    "SUBMITTED": (2, 1),
    "EXPIRED": (3, 0),
    "APPROVED": (3, 1),
    "CANCELLED": (4, 0),
    "REFUNDED": (4, 1),
}
#: Source order within a rank: Flex's own read of the order (the sweep) wins over files and webhooks.
SOURCE_PRIORITY = {"sweep": 2}
_NO_TIME = "0" * 26
#: Where the status sits in a sort key (1-based, for SQL ``SUBSTR``) and its padded width.
STATUS_AT, STATUS_WIDTH = 30, 10


class OrderEvent(BaseModel):
    """One fact about one merchant order (never card data)."""

    model_config = ConfigDict(frozen=True)

    mid: str = Field(min_length=1)
    order_id: str = Field(min_length=1, description="The merchant's order id")
    kind: str
    event_key: str = Field(min_length=1, description="Natural key, unique per (mid, kind, event_key)")
    status: str | None = None
    order_session_key: str | None = None
    confirmation_id: str | None = None
    amount_minor: int | None = None
    currency: str | None = None
    flex_time: datetime | None = None
    detail: str | None = Field(default=None, description="Reason, error or request id; never card data")
    business_date: date | None = None
    file_name: str | None = None
    expiry_at: datetime | None = None

    def status_candidate(self) -> str | None:
        """The order status this event speaks for, or None (refund answers, requests, local rejects)."""
        if self.kind in ("shipped", "evaluated"):
            return "SHIPPED"
        if self.kind == "ack" and self.status in ("SUBMITTED", "REJECTED"):
            return self.status
        if self.kind in OUTCOME_KINDS and self.status in STATUS_RANK and STATUS_RANK[self.status][0] >= 3:
            return self.status
        if self.kind == "cancel_answered" and self.status == "SUCCESS":
            return "CANCELLED"
        return None

    def sort_key(self) -> str | None:
        """The precedence of this event's status as a string (max wins), None when it has no status."""
        return sort_key_for(self.kind, self.status_candidate(), self.flex_time, self.event_key)

    def row(self) -> tuple[Any, ...]:
        """The values of :data:`flex_provider.ledger.schema.EVENT_COLUMNS`, in order."""
        return (
            self.mid,
            self.order_id,
            self.kind,
            self.event_key[:255],
            self.status,
            self.order_session_key,
            self.confirmation_id,
            self.amount_minor,
            self.currency,
            to_utc(self.flex_time),
            self.detail,
            self.business_date,
            self.file_name,
            to_utc(self.expiry_at),
            self.sort_key(),
        )


def sort_key_for(kind: str, status: str | None, flex_time: datetime | None, event_key: str) -> str | None:
    """
    rank, source, Flex time, tie order and status as one string whose maximum wins.

    ``event_key`` is not part of it: it would only order events that speak for the same status, and it
    made every event and state row ~100 bytes wider (a million-row result file writes both).
    """
    del event_key
    if status is None:
        return None
    rank, tie = STATUS_RANK[status]
    when = _time_text(flex_time) if flex_time is not None else _NO_TIME
    prio = SOURCE_PRIORITY.get(kind, 1)
    return f"{rank}{prio}{when}{tie}{status:<{STATUS_WIDTH}}"


def _time_text(value: datetime) -> str:
    """Fixed-width UTC text (26 chars) whose order is time order."""
    return to_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%f")  # type: ignore[union-attr]


# -- builders: one per source of facts -------------------------------------------------------------


def shipped_events(
    mid: str, file_name: str, business_date: date, rows: Iterable[dict[str, Any]], sent_at: datetime
) -> Iterator[OrderEvent]:
    """``shipped`` facts of one uploaded file's ledger rows (``sent_at``: when its upload was recorded)."""
    for r in rows:
        yield OrderEvent(
            mid=mid,
            order_id=r["order_id"],
            kind="shipped",
            event_key=f"{file_name}:{int(r['sequence_number'])}",
            status="SHIPPED",
            flex_time=sent_at,
            detail=r.get("idempotency_key"),
            business_date=business_date,
            file_name=file_name,
            expiry_at=r.get("expiry_date_utc"),
        )


def rejected_events(
    mid: str, business_date: date, rejects: Iterable[tuple[str, str]]
) -> Iterator[OrderEvent]:
    """``rejected_local`` facts from the writer's rejects CSV: (order id, whole reason)."""
    for order_id, reason in rejects:
        reason = (reason or "").strip() or "rejected"
        yield OrderEvent(
            mid=mid,
            order_id=order_id,
            kind="rejected_local",
            event_key=f"{business_date.isoformat()}:{order_id}:{reason}"[:255],
            detail=reason,
            business_date=business_date,
        )


def ack_events(ack: Any) -> Iterator[OrderEvent]:
    """``ack`` facts of an :class:`~flex_provider.models.batch.AckFile` (transmit ``SUCCESS`` -> SUBMITTED)."""
    for row in ack.rows:
        status = "REJECTED" if row.status == "REJECTED" else "SUBMITTED"
        errors = "; ".join(f"{e.field}: {e.message}" if e.field else e.message for e in row.errors) or None
        yield OrderEvent(
            mid=ack.mid,
            order_id=row.order_id,
            kind="ack",
            event_key=f"{ack.inbound_file}:{row.sequence_number}:{row.order_id}:{status}",
            status=status,
            order_session_key=row.order_session_key,
            flex_time=ack.received_at_utc,
            detail=errors,
            file_name=ack.inbound_file,
        )


def result_tuple(mid: str, row: Any, key: str) -> tuple[Any, ...]:
    """``result_event(mid, row, key).row()`` without building the model (a million rows per file)."""
    when = to_utc(row.timestamp_utc)
    return (
        mid,
        row.order_id,
        "result",
        key[:255],
        row.status,
        row.order_session_key,
        row.confirmation_id,
        row.amount,
        row.currency,
        when,
        None,
        None,
        None,
        None,
        sort_key_for("result", row.status, when, key[:255]),
    )


def result_event(mid: str, row: Any, key: str) -> OrderEvent:
    """A ``result`` fact of one :class:`~flex_provider.models.batch.ResultRow` under ``key``."""
    return OrderEvent(
        mid=mid,
        order_id=row.order_id,
        kind="result",
        event_key=key,
        status=row.status,
        order_session_key=row.order_session_key,
        confirmation_id=row.confirmation_id,
        amount_minor=row.amount,
        currency=row.currency,
        flex_time=row.timestamp_utc,
    )


def result_key(row: Any, file_name: str | None, index: int) -> str:
    """``<file>:<row index>``; without a file name, the row's own content (replays still dedupe)."""
    if file_name:
        return f"{file_name}:{index}"
    when = _time_text(row.timestamp_utc) if row.timestamp_utc else ""
    return f"{row.status}:{row.order_id}:{when}:{row.confirmation_id or ''}"


def result_event_table(mid: str, block: Any, file_name: str, first_index: int) -> Any:
    """
    A block of result rows (``flex_provider.batch.result_columns``) as ``result`` events, column-wise:
    the columns :data:`RESULT_EVENT_COLUMNS`, the same values :func:`result_tuple` gives row by row
    (``tests/unit/batch/test_result_columns.py`` compares them).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    n = block.num_rows
    index = pa.array(range(first_index, first_index + n), type=pa.int64())
    key = pc.binary_join_element_wise(f"{file_name}:", pc.cast(index, pa.string()), "")
    key = pc.utf8_slice_codeunits(key, 0, 255)
    status = block.column("status")
    statuses = [s for s in STATUS_RANK if STATUS_RANK[s][0] >= 3]
    at = pc.index_in(status, value_set=pa.array(statuses))
    prio = SOURCE_PRIORITY.get("result", 1)
    head = pc.take(pa.array([f"{STATUS_RANK[s][0]}{prio}" for s in statuses]), at)
    tail = pc.take(pa.array([f"{STATUS_RANK[s][1]}{s:<{STATUS_WIDTH}}" for s in statuses]), at)
    when = block.column("timestamp_utc")
    when_text = pc.fill_null(pc.strftime(when, format="%Y-%m-%dT%H:%M:%S"), _NO_TIME)
    sort_key = pc.binary_join_element_wise(head, when_text, tail, "")
    constant = pa.array([mid] * n, type=pa.string()) if n else pa.array([], type=pa.string())
    return pa.table(
        {
            "mid": constant,
            "order_id": block.column("order_id"),
            "kind": pa.array(["result"] * n, type=pa.string()),
            "event_key": key,
            "status": status,
            "order_session_key": block.column("order_session_key"),
            "confirmation_id": block.column("confirmation_id"),
            "amount_minor": block.column("amount"),
            "currency": block.column("currency"),
            "flex_time": when,
            "sort_key": sort_key,
        }
    )


#: The event columns a result row fills (the others stay NULL).
RESULT_EVENT_COLUMNS = tuple(
    c for c in EVENT_COLUMNS if c not in ("detail", "business_date", "file_name", "expiry_at")
)
