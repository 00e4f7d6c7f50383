"""The rows of the demo merchant data: card tokens, subscriptions and orders, built a chunk at a time.

:func:`build_chunk` makes the columns (lists by column name, in ``CARD_COLUMNS``, ``SUB_COLUMNS`` and
``ORDER_COLUMNS`` order of the sample schema) for one range of subscriptions with numpy, vectorised;
:class:`ChunkPlan` holds what every chunk of one run shares. The declines the plan marks bad are broken
here: a missing amount, a bad currency, a raw (Luhn-valid test) card number in a field. The fourth kind,
a duplicated order row, is written by :func:`flex_provider.merchant.generate.generate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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


def _pick(rng: Any, options: Sequence[Any], n: int) -> list[Any]:
    idx = rng.integers(0, len(options), n)
    return [options[i] for i in idx.tolist()]


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
class ChunkPlan:
    """Fixed facts of one generator run, shared by its chunks."""

    n_dec: int
    days: int
    day0: float
    tag: str
    card_base: int
    order_base: int
    end_year: int
    bad_at: dict[int, str]


def build_chunk(rng: Any, plan: ChunkPlan, lo: int, hi: int, dialect: str) -> tuple[dict[str, list[Any]], ...]:
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
