"""``flex_provider.merchant.demo_rows``: one chunk of demo rows: the planned bad declines broken as planned,
every other row well formed, the same seed the same rows."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import numpy as np

from flex_provider.merchant.demo_rows import (
    CARD_COLUMNS,
    ORDER_COLUMNS,
    SUB_COLUMNS,
    TEST_PANS,
    ChunkPlan,
    build_chunk,
)

DAY0 = datetime(2026, 11, 16, tzinfo=timezone.utc).timestamp()


def plan(**change: object) -> ChunkPlan:
    fields = {"n_dec": 8, "days": 2, "day0": DAY0, "tag": "t1", "card_base": 100, "order_base": 500,
              "end_year": 2026, "bad_at": {1: "missing_amount", 2: "bad_currency", 3: "pan_in_field",
                                           4: "pan_in_field", 5: "duplicate_order"}}
    fields.update(change)
    return ChunkPlan(**fields)  # type: ignore[arg-type]


def chunk(seed: int = 0, lo: int = 0, hi: int = 12, dialect: str = "postgresql", **change: object):
    return build_chunk(np.random.default_rng(seed), plan(**change), lo, hi, dialect)


def test_every_column_of_the_schema_comes_with_one_value_per_row() -> None:
    cards, subs, orders = chunk()
    for cols, names in ((cards, CARD_COLUMNS), (subs, SUB_COLUMNS), (orders, ORDER_COLUMNS)):
        assert set(cols) == set(names)
        assert {len(v) for v in cols.values()} == {12}


def test_declines_come_first_then_approved_payments_with_ids_after_the_bases() -> None:
    _, subs, orders = chunk()
    assert orders["status"] == ["DECLINED"] * 8 + ["PAID"] * 4
    assert orders["decline_code"][7] is not None
    assert orders["decline_code"][8] is None
    assert subs["status"] == ["past_due"] * 8 + ["active"] * 4
    assert orders["id"][0] == 501
    assert orders["card_token_id"][0] == 101 == subs["card_token_id"][0]
    assert orders["order_id"][3] == "ord-t1-0000003"
    day_of = [(datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() - DAY0) // 86400
              for t in orders["attempted_at"][:8]]
    assert day_of == [0, 1] * 4  # declines spread evenly over the days


def test_the_planned_bad_declines_are_broken_and_only_those() -> None:
    cards, _, orders = chunk()
    assert orders["amount_cents"][1] is None
    assert not re.fullmatch(r"[A-Z]{3}", orders["currency"][2])
    in_description = [i for i, v in enumerate(orders["description"]) if any(p in v for p in TEST_PANS)]
    in_token = [i for i, v in enumerate(cards["flex_token"]) if v in TEST_PANS]
    assert sorted(in_description + in_token) == [3, 4]  # the two planned rows
    assert len(in_description) == len(in_token) == 1  # one leaks into free text, one into the token column
    good = [i for i in range(12) if i not in (1, 2, 3, 4)]
    assert all(orders["amount_cents"][i] > 0 and orders["currency"][i] == "USD" for i in good)
    assert not any(t.replace("-", "").isdigit() for t in cards["flex_token"] if t not in TEST_PANS)


def test_a_chunk_later_in_the_run_uses_its_own_positions() -> None:
    _, _, orders = chunk(lo=4, hi=8, n_dec=8)
    assert orders["order_id"] == [f"ord-t1-{i:07d}" for i in range(4, 8)]
    assert orders["status"] == ["DECLINED"] * 4
    assert orders["amount_cents"][0] is not None  # position 4 (a PAN row) keeps its amount


def test_the_same_seed_gives_the_same_rows_and_sqlite_gets_integer_booleans() -> None:
    assert chunk(seed=5) == chunk(seed=5)
    assert chunk(seed=5)[0]["flex_token"] != chunk(seed=6)[0]["flex_token"]
    assert {type(v) for v in chunk(dialect="sqlite")[2]["is_mit"]} == {int}
    assert {type(v) for v in chunk()[2]["is_mit"]} == {bool}


def test_no_bad_currency_looks_like_an_iso_code() -> None:
    every = {j: "bad_currency" for j in range(8)}
    currencies = chunk(bad_at=every, hi=8)[2]["currency"]
    assert not any(re.fullmatch(r"[A-Z]{3}", c) for c in currencies)
