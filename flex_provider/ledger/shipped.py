"""
The ``shipped`` facts of uploaded evaluate files, appended set-based: one ``INSERT ... SELECT`` from the
files' row records, then the fold, inside the caller's transaction.

The events are the ones :func:`flex_provider.ledger.events.shipped_events` builds row by row (same key
``<file>:<sequence number>``, ``flex_time`` = when the upload was recorded, the row's idempotency key as
``detail``, its expiry, the same ``sort_key``), without a round trip of every row through Python; the
test ``tests/unit/ledger/test_files.py`` holds the two equal. The append follows the order book's
protocol (``flex_provider.ledger.orders``): the append lock row first, then the events above the
highest id before, folded.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Integer, String, cast, func, literal, select, true
from sqlalchemy.engine import Connection

from flex_provider.ledger.events import sort_key_for
from flex_provider.ledger.schema import (
    EVENT_COLUMNS,
    IN_CHUNK,
    batch_files,
    batch_rows,
    batches,
    now,
    order_events,
)
from flex_provider.ledger.state import begin_append, fold


def append_shipped(conn: Connection, insert: object, names: Sequence[str], sent_at: datetime) -> int:
    """
    Append the ``shipped`` events of the evaluate files among ``names`` and fold them; returns the
    number stored (a repeat stores none).

    :param insert: the ledger's dialect INSERT factory (``FlexLedger._insert``).
    """
    names = list(dict.fromkeys(names))
    if not names:
        return 0
    before = begin_append(conn)
    r = batch_rows.c
    key = r.file_name + literal(":") + cast(r.sequence_number, String)
    # sort_key_for's text around the event key (if it holds the key at all), so SQL builds the same text.
    mark = "\x00event-key\x00"
    probe = sort_key_for("shipped", "SHIPPED", sent_at, mark)
    assert probe is not None
    if mark in probe:
        before_key, after_key = probe.split(mark, 1)
        sort_key: Any = func.substr(literal(before_key) + key + literal(after_key), 1, 400)
    else:
        sort_key = literal(probe)
    sent = literal(sent_at, DateTime(timezone=True))
    values = {
        "mid": r.mid,
        "order_id": r.order_id,
        "kind": literal("shipped"),
        "event_key": func.substr(key, 1, 255),
        "status": literal("SHIPPED"),
        "order_session_key": literal(None, String),
        "confirmation_id": literal(None, String),
        "amount_minor": literal(None, Integer),
        "currency": literal(None, String),
        "flex_time": sent,
        "detail": r.idempotency_key,
        "business_date": r.business_date,
        "file_name": r.file_name,
        "expiry_at": r.expiry_date_utc,
        "sort_key": sort_key,
    }
    inserted = 0
    for part in batches(names, IN_CHUNK):
        evaluate = select(batch_files.c.name).where(
            batch_files.c.name.in_(part), batch_files.c.kind == "evaluate"
        )
        source = (
            select(*(values[c] for c in EVENT_COLUMNS), literal(now(), DateTime(timezone=True)))
            .where(r.file_name.in_(evaluate), true())
            .order_by(r.file_name, r.sequence_number)
        )
        stmt = (
            insert(order_events)  # type: ignore[operator]
            .from_select([*EVENT_COLUMNS, "recorded_at"], source)
            .on_conflict_do_nothing(index_elements=["mid", "kind", "event_key"])
        )
        inserted += conn.execute(stmt).rowcount
    if inserted:
        fold(conn, after_id=before)
    return inserted
