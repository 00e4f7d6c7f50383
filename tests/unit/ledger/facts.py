"""Facts the ledger unit tests build on: a shipped evaluate file, Flex's ack of it, the merchant's books."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert

from flex_provider.ledger import FlexLedger
from flex_provider.merchant.schema import create_schema, orders
from flex_provider.models.batch import AckFile

#: The projection script the DAGs run.
PROJECT_SQL = (Path(__file__).resolve().parents[3] / "dags" / "sql" / "project_orders.sql").read_text()

DAY = date(2026, 11, 24)
NOW = datetime(2026, 11, 24, 8, tzinfo=timezone.utc)


def ship(
    ledger: FlexLedger,
    mid: str,
    name: str,
    n: int,
    *,
    day: date = DAY,
    start: int = 0,
    sha: str = "a",
    upload: bool = True,
) -> None:
    """Record evaluate file ``name`` with orders ``o<start>`` .. (expiries NOW + 0/1/2 days); upload it."""
    ledger.record_file(
        name, business_date=day, kind="evaluate", mid=mid, rows=n, sha256=sha * 64, rows_sha256="b" * 64
    )
    ledger.record_rows(
        name,
        (
            {
                "order_id": f"o{i}",
                "sequence_number": i - start + 1,
                "idempotency_key": f"k{i}",
                "expiry_date_utc": NOW + timedelta(days=i % 3),
            }
            for i in range(start, start + n)
        ),
    )
    if upload:  # Flex acks only what was uploaded; the upload record makes the rows "shipped" events
        ledger.mark_uploaded(name, 100, "e" * 64)


def ack(mid: str, name: str, statuses: dict[str, str]) -> AckFile:
    """Flex's ack of ``name``: each order SUBMITTED (with a session key) or REJECTED."""
    return AckFile.model_validate(
        {
            "fileType": "ack",
            "inboundFile": name,
            "mid": mid,
            "receivedAtUtc": NOW.isoformat(),
            "status": "PROCESSED",
            "rowCount": len(statuses),
            "accepted": 0,
            "rejected": 0,
            "rows": [
                {
                    "sequenceNumber": "1",
                    "orderId": o,
                    "orderSessionKey": None if s == "REJECTED" else f"osk-{o}",
                    "status": s,
                }
                for o, s in statuses.items()
            ],
        }
    )


def statuses(ledger: FlexLedger, mid: str, orders: list[str]) -> list[str]:
    """The ledger's status of each order, in the order given."""
    rows = ledger.rows_for_orders(mid, "evaluate", orders)
    return [rows[o]["status"] for o in orders]


def merchant_db(path: Path, ids: list[str]) -> Any:
    """A merchant DB (SQLite file) whose orders ``ids`` are declines of 19.99 USD not yet handed to Flex."""
    engine = create_engine(f"sqlite:///{path}")
    create_schema(engine)
    with engine.begin() as conn:
        for oid in ids:
            conn.execute(insert(orders).values(order_id=oid, attempted_at="2026-11-01T05:00:00Z",
                                               amount_cents=1999, currency="USD", status="DECLINED"))  # fmt: skip
    return engine
