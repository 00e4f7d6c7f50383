"""
An order's state: a monotonic fold of its events, kept set-based in SQL (PostgreSQL and SQLite).

``flex_order_state`` holds one row per (mid, order id). Each column is a join of the order's events that
does not depend on the order they arrive in, so folding new events into the old row gives the same row
as folding every event from scratch (what a replay does):

* ``best_key``: the maximum event ``sort_key`` (see ``flex_provider.ledger.events``). Precedence:
  rank SHIPPED(1) < SUBMITTED | REJECTED(2) < APPROVED | EXPIRED(3) < CANCELLED | REFUNDED(4) (final beats
  pending, a void/refund beats the outcome it voids); within a rank Flex's own read of the order (the
  sweep) beats files and webhooks, then the later Flex time wins, then SUBMITTED over REJECTED and
  APPROVED over EXPIRED (events equal in all of that speak for the same status, so no key is needed
  to break the tie). ``status`` is the status of that event, except that an
  APPROVED order whose confirmed refunds reach its approved amount is REFUNDED, and an order with only
  local rejects is LOCAL_REJECTED. A ``cancel_answered`` SUCCESS counts as CANCELLED (rank 4).
* shipment (``business_date``, ``batch_file``, ``sent_at``, ``expiry_at``): the least over ``shipped``
  events (an order ships once; a rerun adds no new fact, so nothing moves).
* ``refunded_minor``: the sum over distinct ``refund_answered`` SUCCESS events; each is counted in the
  one transaction that stores it (the unique event key makes a replay add nothing).
* ``order_session_key``, ``confirmation_id``, ``approved_minor``, ``currency``, ``settled_at`` (latest
  Flex time of a final outcome), ``local_reason``, ``flex_error``: greatest/least non-null values.
* ``seq``: the highest event id folded in; the projection's watermark compares against it.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.engine import Connection

from flex_provider.ledger.events import STATUS_AT, STATUS_WIDTH
from flex_provider.ledger.schema import ledger_marks, order_events

FOLD_TABLE = "flex_tmp_fold"
#: Merged columns and how old and new values join: least, greatest or sum.
_MERGE = (
    ("business_date", "least"),
    ("batch_file", "least"),
    ("sent_at", "least"),
    ("expiry_at", "least"),
    ("local_reason", "least"),
    ("local_date", "least"),
    ("flex_error", "greatest"),
    ("best_key", "greatest"),
    ("order_session_key", "greatest"),
    ("confirmation_id", "greatest"),
    ("approved_minor", "greatest"),
    ("currency", "greatest"),
    ("settled_at", "greatest"),
    ("seq", "greatest"),
)
STATE_COLUMNS = ("mid", "order_id", "status", *(c for c, _ in _MERGE), "refunded_minor")

_AGGREGATE = """
SELECT e.mid AS mid, e.order_id AS order_id,
  MIN(CASE WHEN e.kind IN ('shipped', 'evaluated') THEN e.business_date END) AS business_date,
  MIN(CASE WHEN e.kind = 'shipped' THEN e.file_name END) AS batch_file,
  MIN(CASE WHEN e.kind IN ('shipped', 'evaluated') THEN e.flex_time END) AS sent_at,
  MIN(CASE WHEN e.kind IN ('shipped', 'evaluated') THEN e.expiry_at END) AS expiry_at,
  MIN(CASE WHEN e.kind = 'rejected_local' THEN e.detail END) AS local_reason,
  MIN(CASE WHEN e.kind = 'rejected_local' THEN e.business_date END) AS local_date,
  MAX(CASE WHEN e.kind = 'ack' AND e.status = 'REJECTED' THEN COALESCE(e.detail, '') END) AS flex_error,
  MAX(e.sort_key) AS best_key,
  MAX(e.order_session_key) AS order_session_key,
  MAX(CASE WHEN e.kind IN ('result', 'webhook', 'sweep') THEN e.confirmation_id END) AS confirmation_id,
  MAX(CASE WHEN e.kind IN ('result', 'webhook', 'sweep') AND e.status = 'APPROVED'
      THEN e.amount_minor END) AS approved_minor,
  MAX(e.currency) AS currency,
  MAX(CASE WHEN SUBSTR(e.sort_key, 1, 1) >= '3' THEN e.flex_time END) AS settled_at,
  CAST(SUM(CASE WHEN e.kind = 'refund_answered' AND e.status = 'SUCCESS'
      THEN COALESCE(e.amount_minor, 0) ELSE 0 END) AS BIGINT) AS refunded_new,
  MAX(e.id) AS seq,
  COUNT(*) AS events
FROM flex_order_events e
WHERE {where}
GROUP BY e.mid, e.order_id
"""


def _least(a: str, b: str) -> str:
    return f"CASE WHEN {a} IS NULL THEN {b} WHEN {b} IS NULL OR {a} <= {b} THEN {a} ELSE {b} END"


def _greatest(a: str, b: str) -> str:
    return f"CASE WHEN {a} IS NULL THEN {b} WHEN {b} IS NULL OR {a} >= {b} THEN {a} ELSE {b} END"


@functools.cache  # the same text every append: built once
def _fold_sql(where: str, *, fresh: bool) -> str:
    """CREATE the fold table: new aggregate joined with the old state (``fresh``: ignore the old state)."""
    merged = []
    for col, how in _MERGE:
        old, new = f"o.{col}", f"n.{col}"
        merged.append(f"{(_least if how == 'least' else _greatest)(old, new)} AS {col}")
    merged.append("COALESCE(o.refunded_minor, 0) + COALESCE(n.refunded_new, 0) AS refunded_minor")
    olds = ", ".join(f"o.{c} AS old_{c}" for c in ("status", *(c for c, _ in _MERGE), "refunded_minor"))
    derived = _derived_status({c: f"m.{c}" for c in ("best_key", "local_reason", "approved_minor", "refunded_minor")})
    compare = ["m.old_mid IS NULL", f"({derived}) IS DISTINCT FROM m.old_status"]
    compare += [f"m.{c} IS DISTINCT FROM m.old_{c}" for c, _ in _MERGE if c != "seq"]
    compare.append("m.refunded_minor IS DISTINCT FROM m.old_refunded_minor")
    join = (
        "LEFT JOIN flex_order_state o ON 1 = 0"
        if fresh
        else ("LEFT JOIN flex_order_state o ON o.mid = n.mid AND o.order_id = n.order_id")
    )
    return (
        f"CREATE TEMPORARY TABLE {FOLD_TABLE} AS "
        f"SELECT m.mid, m.order_id, {derived} AS status, "
        + ", ".join(f"m.{c}" for c, _ in _MERGE)
        + ", m.refunded_minor, CASE WHEN m.old_mid IS NULL THEN 1 ELSE 0 END AS is_new, CASE WHEN "
        + " OR ".join(compare)
        + " THEN 1 ELSE 0 END AS changed "
        f"FROM (SELECT n.mid, n.order_id, o.mid AS old_mid, {', '.join(merged)}, {olds} "
        f"FROM ({_AGGREGATE.format(where=where)}) n {join}) m"
    )


def _merged(col: str, how: str, old: str | None) -> str:
    """The merged value of ``col``: the new aggregate ``n.col`` joined with the old state's ``old.col``."""
    if old is None:
        return f"n.{col}"
    return (_least if how == "least" else _greatest)(f"{old}.{col}", f"n.{col}")


def _derived_status(value: dict[str, str]) -> str:
    """The state's status from its merged ``best_key``, amounts and local reason (SQL expressions)."""
    status = f"TRIM(SUBSTR({value['best_key']}, {STATUS_AT}, {STATUS_WIDTH}))"
    return (
        f"CASE WHEN {value['best_key']} IS NULL THEN "
        f"(CASE WHEN {value['local_reason']} IS NOT NULL THEN 'LOCAL_REJECTED' END) "
        f"WHEN {status} = 'APPROVED' AND {value['approved_minor']} IS NOT NULL AND {value['refunded_minor']} > 0 "
        f"AND {value['refunded_minor']} >= {value['approved_minor']} THEN 'REFUNDED' ELSE {status} END"
    )


@functools.cache  # the same text every append: built once
def _fold_in_place_sql(where: str) -> str:
    """
    PostgreSQL's fold as one statement: the new events' aggregate (materialized once, with whether the
    order has a state) UPDATEs the existing states that a new value improves and INSERTs the orders
    that have none; it returns the counts. The same rows as the portable fold (:func:`_fold_sql` +
    :func:`_write_sql`), without writing the merged rows to a temp table and joining them back
    (``tests/unit/ledger/test_state.py`` holds the two equal).

    A merged value differs from the old one exactly when the new aggregate improves it (a least below,
    a greatest above, or a new value where there was none), and the status is a function of the
    merged values, so those tests alone say whether a state changes.
    """
    old = {c: _merged(c, how, "s") for c, how in _MERGE}
    old["refunded_minor"] = "s.refunded_minor + n.refunded_new"
    new = {c: _merged(c, how, None) for c, how in _MERGE}
    new["refunded_minor"] = "n.refunded_new"
    improves = [
        f"(n.{c} IS NOT NULL AND (s.{c} IS NULL OR n.{c} {'<' if how == 'least' else '>'} s.{c}))"
        for c, how in _MERGE
        if c != "seq"
    ]
    improves.append("n.refunded_new <> 0")
    sets = ", ".join([f"status = {_derived_status(old)}", *(f"{c} = {old[c]}" for c in STATE_COLUMNS[3:])])
    cols = ", ".join(STATE_COLUMNS)
    values = ", ".join(["n.mid", "n.order_id", _derived_status(new), *(new[c] for c in STATE_COLUMNS[3:])])
    return (
        "WITH n AS MATERIALIZED (SELECT a.*, o.mid IS NOT NULL AS known, o.sent_at IS NOT NULL AS was_sent "
        f"FROM ({_AGGREGATE.format(where=where)}) a "
        "LEFT JOIN flex_order_state o ON o.mid = a.mid AND o.order_id = a.order_id), "
        f"u AS (UPDATE flex_order_state s SET {sets} FROM n "
        "WHERE n.known AND s.mid = n.mid AND s.order_id = n.order_id AND (" + " OR ".join(improves) + ") "
        "RETURNING s.sent_at, s.local_reason), "
        f"i AS (INSERT INTO flex_order_state ({cols}) SELECT {values} FROM n WHERE NOT n.known "
        "RETURNING sent_at, local_reason), "
        "w AS (SELECT sent_at, local_reason FROM u UNION ALL SELECT sent_at, local_reason FROM i) "
        "SELECT (SELECT COUNT(*) FROM n), COUNT(*), COUNT(sent_at), "
        "COALESCE(SUM(CASE WHEN sent_at IS NULL AND local_reason IS NULL THEN 1 ELSE 0 END), 0), "
        "(SELECT COALESCE(SUM(events), 0) FROM n WHERE NOT was_sent AND sent_at IS NULL) FROM w"
    )


@functools.cache  # the same text every append: built once
def _write_sql() -> tuple[str, str]:
    """UPDATE the changed existing states (a join, cheaper than upserting), INSERT the new ones."""
    cols = ", ".join(STATE_COLUMNS)
    sets = ", ".join(f"{c} = f.{c}" for c in STATE_COLUMNS if c not in ("mid", "order_id"))
    update = (
        f"UPDATE flex_order_state SET {sets} FROM {FOLD_TABLE} f WHERE f.changed = 1 AND f.is_new = 0 "
        "AND flex_order_state.mid = f.mid AND flex_order_state.order_id = f.order_id"
    )
    insert = f"INSERT INTO flex_order_state ({cols}) SELECT {cols} FROM {FOLD_TABLE} WHERE changed = 1 AND is_new = 1"
    return update, insert


def begin_append(conn: Connection) -> int:
    """
    Take the append lock (the ``flex_ledger_marks.append`` row; SQLite's write lock) inside the caller's
    transaction and return the highest event id before it: :func:`fold` with ``after_id`` set to it
    folds exactly the events this transaction stores. On PostgreSQL a big append (a result file of a
    million rows) gets the memory to hash and sort without spilling.
    """
    conn.execute(
        update(ledger_marks).where(ledger_marks.c.name == "append").values(value=ledger_marks.c.value + 1)
    )
    before = int(conn.execute(select(func.coalesce(func.max(order_events.c.id), 0))).scalar_one())
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL work_mem = '128MB'"))
    return before


def fold(
    conn: Connection, *, after_id: int | None = None, orders_table: str | None = None, portable: bool = False
) -> dict[str, int]:
    """
    Fold events into ``flex_order_state`` inside the caller's transaction; returns counts.

    :param after_id: fold the events with ``id > after_id`` (the ones this transaction stored) into
        the stored state.
    :param orders_table: instead, re-fold every event of the (mid, order_id) pairs in this temp table
        from scratch (a replay); the old state of those orders is replaced.
    :param portable: on PostgreSQL too, the portable two-step fold (a temp table of merged rows, then
        UPDATE and INSERT) instead of the one-statement fold; the two write the same rows.
    :return: ``orders`` (touched), ``changed`` (rows written), ``changed_known`` (of those, orders that
        were shipped), ``unknown`` (of those, orders never shipped nor rejected locally); PostgreSQL's
        one-statement fold also gives ``unknown_events``: the folded events of orders never shipped.
    """
    if (after_id is None) == (orders_table is None):
        raise ValueError("pass after_id or orders_table")
    conn.execute(text(f"DROP TABLE IF EXISTS {FOLD_TABLE}"))
    if orders_table is not None:  # a replay: the old state of those orders is replaced
        conn.execute(
            text(
                "DELETE FROM flex_order_state WHERE EXISTS (SELECT 1 FROM "
                f"{orders_table} t WHERE t.mid = flex_order_state.mid AND t.order_id = flex_order_state.order_id)"
            )
        )
    if orders_table is None and conn.dialect.name == "postgresql" and not portable:
        row = conn.execute(text(_fold_in_place_sql("e.id > :after")), {"after": int(after_id or 0)}).one()
        return {
            "orders": int(row[0]),
            "changed": int(row[1]),
            "changed_known": int(row[2]),
            "unknown": int(row[3]),
            "unknown_events": int(row[4]),
        }
    if orders_table is None:
        conn.execute(text(_fold_sql("e.id > :after", fresh=False)), {"after": int(after_id or 0)})
    else:
        where = f"EXISTS (SELECT 1 FROM {orders_table} t WHERE t.mid = e.mid AND t.order_id = e.order_id)"
        conn.execute(text(_fold_sql(where, fresh=True)))
    counts = conn.execute(
        text(
            "SELECT COUNT(*), COALESCE(SUM(changed), 0), "
            "COALESCE(SUM(CASE WHEN changed = 1 AND sent_at IS NOT NULL THEN 1 ELSE 0 END), 0), "
            "COALESCE(SUM(CASE WHEN changed = 1 AND sent_at IS NULL AND local_reason IS NULL THEN 1 ELSE 0 END), 0) "
            f"FROM {FOLD_TABLE}"
        )
    ).one()
    if int(counts[1]):
        for stmt in _write_sql():
            conn.execute(text(stmt))
    conn.execute(text(f"DROP TABLE IF EXISTS {FOLD_TABLE}"))
    return {
        "orders": int(counts[0]),
        "changed": int(counts[1]),
        "changed_known": int(counts[2]),
        "unknown": int(counts[3]),
    }


def state_dict(row: Any) -> dict[str, Any]:
    """A state row as a plain dict (times aware UTC), plus ``amount_minor`` (the approved amount)."""
    from flex_provider.ledger.schema import utc

    out = dict(row)
    for key in ("sent_at", "expiry_at", "settled_at"):
        out[key] = utc(out.get(key))
    out["amount_minor"] = out.get("approved_minor")
    out["refunded_minor"] = int(out.get("refunded_minor") or 0)
    return out
