"""
Generate realistic demo data for the sample merchant schema (subscriptions, card tokens, payments).

Usage::

    python -m flex_provider.merchant.generate --url postgresql+psycopg2://postgres@127.0.0.1/merchant \
        --rows 1000000 --days 7 --bad-share 0.02

``--rows`` is the number of **declined MIT payments** (what the extract reads), spread evenly over
``--days`` business days ending with ``--end-date`` (default: yesterday, UTC). Each decline gets its own
subscription and card token; ``--approved-share`` adds approved payments (for transmit batches). A
``--bad-share`` of the declines is broken on purpose, in four kinds cycled in turn: a missing amount,
a bad currency, a raw (Luhn-valid test) card number in a field, and a duplicated order row. Inserts are
bulk: ``COPY`` on PostgreSQL (psycopg2), ``executemany`` elsewhere; about 10 s per million declines.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from flex_provider.merchant.demo_rows import (
    BAD_KINDS,
    CARD_COLUMNS,
    ORDER_COLUMNS,
    SUB_COLUMNS,
    ChunkPlan,
    build_chunk,
)
from flex_provider.merchant.schema import create_schema

if TYPE_CHECKING:
    from sqlalchemy import Engine

log = logging.getLogger(__name__)

#: Subscriptions built and inserted per chunk.
BATCH = 100_000


@dataclass
class GenerateResult:
    """What :func:`generate` inserted."""

    declines: int
    approved: int
    bad: dict[str, int] = field(default_factory=dict)
    orders: int = 0
    days: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """Plain data for printing and XCom."""
        return {
            "declines": self.declines,
            "approved": self.approved,
            "bad": dict(self.bad),
            "orders": self.orders,
            "days": list(self.days),
            "seconds": round(self.seconds, 2),
        }


def _engine(url: str | Engine) -> Engine:
    if not isinstance(url, str):
        return url
    from sqlalchemy import create_engine

    return create_engine(url)


def _max_id(conn: Any, table: str) -> int:
    from sqlalchemy import text

    return int(conn.execute(text(f"SELECT COALESCE(MAX(id), 0) FROM {table}")).scalar_one())


def _rows(columns: dict[str, list[Any]], order: Sequence[str]) -> Iterator[tuple[Any, ...]]:
    return zip(*(columns[c] for c in order), strict=True)


def _insert(
    conn: Any, dialect: str, table: str, order: Sequence[str], rows: Iterable[tuple[Any, ...]]
) -> None:
    """Bulk insert one batch: COPY on PostgreSQL with psycopg2, executemany otherwise."""
    cols = ", ".join(order)
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        if dialect == "postgresql" and hasattr(cursor, "copy_expert"):
            buf = io.StringIO()
            # csv writes None as an unquoted empty field, which COPY's csv format reads as NULL.
            csv.writer(buf, lineterminator="\n").writerows(rows)
            buf.seek(0)
            cursor.copy_expert(f"COPY {table} ({cols}) FROM STDIN WITH (FORMAT csv)", buf)
            return
        mark = "%s" if dialect == "postgresql" else "?"
        cursor.executemany(
            f"INSERT INTO {table} ({cols}) VALUES ({', '.join([mark] * len(order))})", list(rows)
        )
    finally:
        cursor.close()


def generate(
    url: str | Engine,
    *,
    rows: int = 1000,
    days: int = 3,
    end_date: date | None = None,
    bad_share: float = 0.02,
    approved_share: float = 0.5,
    seed: int = 0,
    create: bool = True,
    drop: bool = False,
) -> GenerateResult:
    """
    Fill a merchant database with ``rows`` declined MIT payments over ``days`` business days.

    :param url: SQLAlchemy URL (or engine) of the merchant database; tables are created if missing.
    :param rows: declined MIT payments to create (including the bad ones; duplicates come on top).
    :param days: business days, ending with ``end_date``; declines are spread evenly, at random times.
    :param end_date: last business day (UTC); default yesterday.
    :param bad_share: share of declines broken on purpose (missing amount, bad currency, card number in
        a field, duplicated order row), cycled in that order.
    :param approved_share: approved payments per decline (transmit copies).
    :param seed: random seed; the same seed gives the same data.
    :param create: create the schema first.
    :param drop: drop and recreate the schema first.
    :return: counts of what was inserted.
    """
    import numpy as np

    started = time.monotonic()
    if rows < 0 or days < 1:
        raise ValueError("rows must be >= 0 and days >= 1")
    if not 0.0 <= bad_share <= 1.0:
        raise ValueError("bad_share must be between 0 and 1")
    end_date = end_date or (datetime.now(timezone.utc).date() - timedelta(days=1))
    first_day = end_date - timedelta(days=days - 1)
    n_dec = int(rows)
    n = n_dec + round(rows * approved_share)
    rng = np.random.default_rng(seed)
    engine = _engine(url)
    if create or drop:
        create_schema(engine, drop=drop)
    dialect = engine.dialect.name
    n_bad = round(n_dec * bad_share)
    # Spread the bad rows over the whole range, so every day gets its share.
    positions = dict.fromkeys(np.linspace(0, max(n_dec - 1, 0), n_bad).round().astype(np.int64).tolist())
    bad_at = {pos: BAD_KINDS[j % len(BAD_KINDS)] for j, pos in enumerate(positions)}
    bad = dict.fromkeys(BAD_KINDS, 0)
    for kind in bad_at.values():
        bad[kind] += 1
    dups: list[tuple[Any, ...]] = []

    with engine.begin() as conn:
        card_base = _max_id(conn, "card_tokens")
        order_base = _max_id(conn, "orders")
        plan = ChunkPlan(
            n_dec=n_dec,
            days=days,
            day0=datetime.combine(first_day, datetime.min.time(), tzinfo=timezone.utc).timestamp(),
            # A run-unique tag keeps ids distinct when the generator fills the same database twice.
            tag=hashlib.sha256(f"{seed}:{order_base}".encode()).hexdigest()[:6],
            card_base=card_base,
            order_base=order_base,
            end_year=end_date.year,
            bad_at=bad_at,
        )
        for lo in range(0, n, BATCH):
            hi = min(n, lo + BATCH)
            cards, subs, order_cols = build_chunk(rng, plan, lo, hi, dialect)
            _insert(conn, dialect, "card_tokens", CARD_COLUMNS, _rows(cards, CARD_COLUMNS))
            _insert(conn, dialect, "subscriptions", SUB_COLUMNS, _rows(subs, SUB_COLUMNS))
            _insert(conn, dialect, "orders", ORDER_COLUMNS, _rows(order_cols, ORDER_COLUMNS))
            for pos, kind in bad_at.items():
                if kind == "duplicate_order" and lo <= pos < hi:
                    # The billing system wrote the same attempt twice: same order id, a new row id.
                    row = [order_cols[c][pos - lo] for c in ORDER_COLUMNS]
                    row[0] = order_base + n + len(dups) + 1
                    dups.append(tuple(row))
            log.info("Generated %d of %d payments", hi, n)
        if dups:
            _insert(conn, dialect, "orders", ORDER_COLUMNS, dups)
        if dialect == "postgresql":
            from sqlalchemy import text

            conn.execute(text("ANALYZE card_tokens, subscriptions, orders"))

    result = GenerateResult(
        declines=n_dec,
        approved=n - n_dec,
        bad=bad,
        orders=n + len(dups),
        days=[(first_day + timedelta(days=d)).isoformat() for d in range(days)],
        seconds=time.monotonic() - started,
    )
    log.info("Generated %s", result.as_dict())
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m flex_provider.merchant.generate", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--url", required=True, help="SQLAlchemy URL of the merchant database")
    parser.add_argument("--rows", type=int, default=1000, help="declined MIT payments (default 1000)")
    parser.add_argument("--days", type=int, default=3, help="business days (default 3)")
    parser.add_argument(
        "--end-date", type=date.fromisoformat, default=None, help="last day, default yesterday"
    )
    parser.add_argument(
        "--bad-share", type=float, default=0.02, help="share of broken declines (default 0.02)"
    )
    parser.add_argument("--approved-share", type=float, default=0.5, help="approved payments per decline")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--drop", action="store_true", help="drop and recreate the tables first")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    result = generate(
        args.url,
        rows=args.rows,
        days=args.days,
        end_date=args.end_date,
        bad_share=args.bad_share,
        approved_share=args.approved_share,
        seed=args.seed,
        drop=args.drop,
    )
    import json

    print(json.dumps(result.as_dict()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
