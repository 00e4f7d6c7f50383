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

from flex_provider.merchant.schema import create_schema

if TYPE_CHECKING:
    from sqlalchemy import Engine

log = logging.getLogger(__name__)

BAD_KINDS = ("missing_amount", "bad_currency", "pan_in_field", "duplicate_order")
#: Luhn-valid public test PANs: what a careless export would leak into a free-text column.
TEST_PANS = ("4111111111111111", "5555555555554444", "4000002760003184", "378282246310005")
DECLINES = (
    ("05", "Do not honor"),
    ("51", "Insufficient funds"),
    ("61", "Exceeds withdrawal limit"),
    ("91", "Issuer unavailable"),
    ("96", "System malfunction"),
    ("14", "Invalid card number"),
)
FIRST = ("Ann", "Ben", "Chloe", "Dev", "Eva", "Femi", "Gus", "Hana", "Ivan", "Jo", "Kai", "Lena", "Mo", "Nia")
LAST = ("Lee", "Smith", "Garcia", "Okafor", "Novak", "Kim", "Rossi", "Khan", "Meyer", "Silva", "Ito", "Brown")
CITIES = (
    ("Springfield", "IL", "62701"),
    ("Austin", "TX", "73301"),
    ("Portland", "OR", "97201"),
    ("Denver", "CO", "80202"),
    ("Miami", "FL", "33101"),
    ("Boston", "MA", "02108"),
)
PLANS = (("basic-monthly", 999), ("plus-monthly", 1999), ("pro-monthly", 4999), ("family-monthly", 2999))
BRANDS = (("VISA", "411111"), ("MASTERCARD", "555555"), ("VISA", "400000"), ("AMEX", "378282"))
BATCH = 100_000

CARD_COLUMNS = (
    "id",
    "customer_id",
    "flex_token",
    "card_bin",
    "card_last4",
    "exp_month",
    "exp_year",
    "card_brand",
    "card_type",
    "holder_name",
    "sense_key",
    "created_at",
)
SUB_COLUMNS = (
    "subscription_id",
    "customer_id",
    "email",
    "first_name",
    "last_name",
    "phone",
    "address_line1",
    "city",
    "state",
    "zip_code",
    "country_code",
    "country",
    "plan_code",
    "billing_interval",
    "price_cents",
    "currency",
    "card_token_id",
    "status",
    "started_at",
)
ORDER_COLUMNS = (
    "id",
    "order_id",
    "subscription_id",
    "customer_id",
    "card_token_id",
    "payment_number",
    "is_mit",
    "is_recurring",
    "amount_cents",
    "currency",
    "description",
    "customer_ip",
    "psp_name",
    "psp_transaction_id",
    "attempted_at",
    "response_status",
    "decline_code",
    "decline_message",
    "avs_result",
    "cvv_result",
    "status",
    "refunded_amount_cents",
)


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


def _pick(rng: Any, options: Sequence[Any], n: int) -> list[Any]:
    idx = rng.integers(0, len(options), n)
    return [options[i] for i in idx.tolist()]


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


def _iso(rng_epoch: Any) -> list[str]:
    """Epoch seconds (numpy int array) -> ``YYYY-MM-DDTHH:MM:SSZ`` strings, vectorised."""
    import numpy as np

    text = np.datetime_as_string(rng_epoch.astype("datetime64[s]"), unit="s")
    return [t + "Z" for t in text.tolist()]


def _tokens(rng: Any, n: int) -> list[str]:
    """``n`` random UUID-shaped tokens from ``rng`` (deterministic for a seed, never digits only)."""
    h = rng.bytes(16 * n).hex()
    return [
        f"{h[i : i + 8]}-{h[i + 8 : i + 12]}-4{h[i + 13 : i + 16]}-a{h[i + 17 : i + 20]}-{h[i + 20 : i + 32]}"
        for i in range(0, 32 * n, 32)
    ]


@dataclass
class _Plan:
    """Fixed facts of one generator run, shared by its chunks."""

    n_dec: int
    days: int
    day0: float
    tag: str
    card_base: int
    order_base: int
    end_year: int
    bad_at: dict[int, str]


def _chunk(rng: Any, plan: _Plan, lo: int, hi: int, dialect: str) -> tuple[dict[str, list[Any]], ...]:
    """Columns of card tokens, subscriptions and orders for subscriptions ``lo`` to ``hi - 1``."""
    import numpy as np

    n = hi - lo
    k = np.arange(lo, hi)
    declined = k < plan.n_dec
    n_dec = int(declined.sum())
    day_idx = np.where(declined, k % plan.days, rng.integers(0, plan.days, n))
    attempted_epoch = (plan.day0 + day_idx * 86400 + rng.integers(0, 86400, n)).astype(np.int64)
    months = rng.integers(2, 36, n)
    attempted = _iso(attempted_epoch)
    started_at = _iso(attempted_epoch - months * 30 * 86400)
    idx = k.tolist()
    sub_ids = [f"sub-{plan.tag}-{i:07d}" for i in idx]
    cust_ids = [f"cust-{plan.tag}-{i:07d}" for i in idx]
    first = _pick(rng, FIRST, n)
    last = _pick(rng, LAST, n)
    cities = _pick(rng, CITIES, n)
    plans = _pick(rng, PLANS, n)
    brands = _pick(rng, BRANDS, n)
    card_ids = [plan.card_base + 1 + i for i in idx]
    tokens = _tokens(rng, n)
    cards = {
        "id": card_ids,
        "customer_id": cust_ids,
        "flex_token": tokens,
        "card_bin": [b[1] for b in brands],
        "card_last4": [f"{v:04d}" for v in rng.integers(0, 10000, n).tolist()],
        "exp_month": rng.integers(1, 13, n).tolist(),
        "exp_year": rng.integers(plan.end_year + 1, plan.end_year + 6, n).tolist(),
        "card_brand": [b[0] for b in brands],
        "card_type": ["CREDIT"] * n,
        "holder_name": [f"{a} {b}" for a, b in zip(first, last, strict=True)],
        "sense_key": _tokens(rng, n),
        "created_at": started_at,
    }
    subs = {
        "subscription_id": sub_ids,
        "customer_id": cust_ids,
        "email": [f"{a.lower()}.{c}@example.com" for a, c in zip(first, cust_ids, strict=True)],
        "first_name": first,
        "last_name": last,
        "phone": [f"+1555{v:07d}" for v in rng.integers(0, 10**7, n).tolist()],
        "address_line1": [f"{v} Main St" for v in rng.integers(1, 9999, n).tolist()],
        "city": [c[0] for c in cities],
        "state": [c[1] for c in cities],
        "zip_code": [c[2] for c in cities],
        "country_code": ["US"] * n,
        "country": ["United States"] * n,
        "plan_code": [p[0] for p in plans],
        "billing_interval": ["monthly"] * n,
        "price_cents": [p[1] for p in plans],
        "currency": ["USD"] * n,
        "card_token_id": card_ids,
        "status": ["past_due"] * n_dec + ["active"] * (n - n_dec),
        "started_at": started_at,
    }
    declines = _pick(rng, DECLINES, n_dec)
    amount: list[Any] = [p[1] for p in plans]
    currency: list[Any] = ["USD"] * n
    description: list[Any] = [f"ACME*{p[0].split('-')[0].upper()}" for p in plans]
    for pos in range(n_dec):
        kind = plan.bad_at.get(lo + pos)
        if kind is None:
            continue
        j = lo + pos
        if kind == "missing_amount":
            amount[pos] = None
        elif kind == "bad_currency":
            currency[pos] = ("US", "DOLLAR", "EURO", "U$D$")[j % 4]
        elif kind == "pan_in_field":
            pan = TEST_PANS[j % len(TEST_PANS)]
            if j % 2:
                description[pos] = f"card {pan}"
            else:
                tokens[pos] = pan
    true = 1 if dialect == "sqlite" else True
    orders_cols: dict[str, list[Any]] = {
        "id": [plan.order_base + 1 + i for i in idx],
        "order_id": [f"ord-{plan.tag}-{i:07d}" for i in idx],
        "subscription_id": sub_ids,
        "customer_id": cust_ids,
        "card_token_id": card_ids,
        "payment_number": (months + 1).tolist(),
        "is_mit": [true] * n,
        "is_recurring": [true] * n,
        "amount_cents": amount,
        "currency": currency,
        "description": description,
        "customer_ip": [f"10.{a}.{b}.{c}" for a, b, c in rng.integers(0, 255, (n, 3)).tolist()],
        "psp_name": _pick(rng, ("stripe", "adyen", "braintree"), n),
        "psp_transaction_id": ["pi_" + t[:8] + t[9:13] + t[24:] for t in _tokens(rng, n)],
        "attempted_at": attempted,
        "response_status": ["DECLINED"] * n_dec + ["APPROVED"] * (n - n_dec),
        "decline_code": [d[0] for d in declines] + [None] * (n - n_dec),
        "decline_message": [d[1] for d in declines] + [None] * (n - n_dec),
        "avs_result": _pick(rng, ("Y", "Z", "N", "U"), n),
        "cvv_result": _pick(rng, ("M", "N", "P"), n),
        "status": ["DECLINED"] * n_dec + ["PAID"] * (n - n_dec),
        "refunded_amount_cents": [0] * n,
    }
    return cards, subs, orders_cols


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
        plan = _Plan(
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
            cards, subs, order_cols = _chunk(rng, plan, lo, hi, dialect)
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
