"""
Known inputs for the Flex view tests: summary rows, rejected orders and ledger files, plus what the view
must show for them, written down by hand from the inputs (never computed by the code under test).
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

DAY1 = date(2026, 11, 20)
DAY2 = date(2026, 11, 21)

#: flex_recovery_summary rows: (business_date, currency, sent, rejected, pending, rescued, rescued minor, expired, rate)
SUMMARY = [
    (DAY1, "USD", 40, 3, 5, 14, 123456, 21, "0.4000"),
    (DAY1, "JPY", 6, 0, 1, 2, 5000, 3, "0.4000"),
    (DAY2, "KWD", 9, 2, 9, 0, 0, 0, None),
    (DAY2, "USD", 30, 2, 4, 11, 19999, 15, "0.4231"),
]
#: What the view's table shows per (day, currency): amount string and rate, by ISO 4217 exponent.
EXPECTED_ROWS = {
    (DAY1, "USD"): {"sent": "40", "rescued": "14", "amount": "1234.56", "expired": "21", "pending": "5",
                    "rejected": "3", "rate": "40.0%"},
    (DAY1, "JPY"): {"sent": "6", "rescued": "2", "amount": "5000", "expired": "3", "pending": "1",
                    "rejected": "0", "rate": "40.0%"},
    (DAY2, "KWD"): {"sent": "9", "rescued": "0", "amount": "0.000", "expired": "0", "pending": "9",
                    "rejected": "2", "rate": "n/a"},
    (DAY2, "USD"): {"sent": "30", "rescued": "11", "amount": "199.99", "expired": "15", "pending": "4",
                    "rejected": "2", "rate": "42.3%"},
}
#: Rejected declines of DAY2 (never shipped), plus one shipped and one of DAY1 that must not show.
REJECTS_DAY2 = [("ord-r-1", "missing_amount"), ("ord-r-2", "pan_detected"), ("ord-r-3", "missing_amount")]
NOT_REJECTS = [("ord-s-1", None, DAY2, True), ("ord-r-9", "bad_currency", DAY1, False)]
#: Ledger files of DAY2: (name, kind, rows, state after seeding, ack status)
FILES_DAY2 = [
    ("evaluate_M_20261121_0001.json", "evaluate", 120, "acknowledged", "PROCESSED"),
    ("evaluate_M_20261121_0002.json", "evaluate", 7, "uploaded", None),
    ("transmit_M_20261121_0001.json", "transmit", 55, "written", None),
]


def seed_merchant(engine: Any) -> None:
    """Create the merchant schema and write :data:`SUMMARY` and the orders above."""
    from flex_provider.merchant.schema import create_schema, ds, flex_recovery_summary, orders, ts

    create_schema(engine)
    sqlite = engine.dialect.name == "sqlite"
    now = datetime(2026, 11, 22, 3, 0, tzinfo=timezone.utc)

    def tsv(value: datetime) -> Any:
        return ts(value) if sqlite else value

    def dsv(value: date) -> Any:
        return ds(value) if sqlite else value

    with engine.begin() as conn:
        conn.execute(flex_recovery_summary.delete())
        conn.execute(flex_recovery_summary.insert(), [
            {"business_date": dsv(d), "currency": c, "declines_sent": s, "rejected": rj, "pending": p,
             "rescued_count": r, "rescued_amount_cents": amt, "expired_count": e, "cancelled_count": 0,
             "refunded_count": 0, "recovery_rate": rate, "updated_at": tsv(now)}
            for d, c, s, rj, p, r, amt, e, rate in SUMMARY
        ])
        rows = [
            {"order_id": oid, "attempted_at": tsv(now), "status": "DECLINED", "amount_cents": 1000, "currency": "USD",
             "flex_business_date": dsv(DAY2), "flex_reject_reason": reason}
            for oid, reason in REJECTS_DAY2
        ]
        rows += [
            {"order_id": oid, "attempted_at": tsv(now), "status": "PENDING_FLEX" if sent else "DECLINED",
             "amount_cents": 1000, "currency": "USD", "flex_business_date": dsv(day),
             "flex_reject_reason": reason, "flex_sent_at": tsv(now) if sent else None}
            for oid, reason, day, sent in NOT_REJECTS
        ]
        conn.execute(orders.insert(), rows)


def seed_ledger(ledger: Any, mid: str) -> None:
    """Record :data:`FILES_DAY2` through the ledger's own methods, then one file of another MID."""
    for name, kind, rows, state, ack in FILES_DAY2:
        ledger.record_file(name, business_date=DAY2, kind=kind, mid=mid, rows=rows, sha256="a" * 64,
                           rows_sha256="b" * 64)
        if state in ("uploaded", "acknowledged"):
            ledger.mark_uploaded(name, 1000 + rows, "a" * 64)
        if state == "acknowledged":
            ledger.mark_acknowledged(name, ack or "PROCESSED")
    ledger.record_file("evaluate_OTHER_20261121_0001.json", business_date=DAY2, kind="evaluate",
                       mid="other-mid", rows=1, sha256="c" * 64, rows_sha256="d" * 64)
