"""``flex_provider.sandbox.order_queries``: ``GET /orders`` filters, sorts and pages like Flex; bad params are a 400.

On a real sandbox state (SQLite file) holding seven orders the test placed.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from flex_provider.sandbox.state import SandboxState

AMOUNTS = [300, 100, 700, 200, 600, 500, 400]


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory):
    s = SandboxState(tmp_path_factory.mktemp("orders"), seed=6, clock_speed=0)
    for i, amount in enumerate(AMOUNTS):
        s.clock.advance(60)  # distinct placement times, in list order
        row = {"isDeclined": True, "isMIT": True, "orderId": f"sub-{i}", "idempotencyKey": str(uuid.uuid4()),
               "expiryDateUtc": (s.clock.now() + timedelta(days=14)).isoformat(),
               "transaction": {"id": f"ref-{i}", "amount": amount, "currency": "USD"},
               "paymentMethod": {"cardNumber": "tok-x", "token": True}}  # fmt: skip
        assert s.evaluate(s.merchant.mid, row, source="sftp")[0] == 200
    yield s
    s.close()


def _list(state: SandboxState, **params: str) -> tuple[int, dict]:
    return state.list_orders(state.merchant.mid, list(params.items()))


def test_pages_walk_every_order_once_in_placement_order(state: SandboxState) -> None:
    seen = []
    for page in (1, 2, 3):
        status, body = _list(state, pageSize="3", pageNumber=str(page))
        assert status == 200
        assert (body["pageCount"], body["totalItemCount"], body["hasNextPage"]) == (3, 7, page < 3)
        seen += [o["amount"] for o in body["items"]]
    assert seen == AMOUNTS
    assert _list(state, pageSize="3", pageNumber="4")[1]["items"] == []


def test_order_by_amount_descending_and_query(state: SandboxState) -> None:
    body = _list(state, orderBy="amount", sort="desc", pageSize="100")[1]
    assert [o["amount"] for o in body["items"]] == sorted(AMOUNTS, reverse=True)
    assert [o["amount"] for o in _list(state, query="ref-4")[1]["items"]] == [600]


def test_status_filter(state: SandboxState) -> None:
    assert _list(state, status="4", pageSize="100")[1]["totalItemCount"] == 7  # all still processing
    assert _list(state, status="7,2")[1]["totalItemCount"] == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [({"pageSize": "0"}, "PageSize"), ({"pageSize": "101"}, "PageSize"), ({"pageNumber": "x"}, "PageNumber"),
     ({"status": "99"}, "Status"), ({"orderBy": "name"}, "OrderBy"), ({"sort": "up"}, "Sort"),
     ({"from": "yesterday"}, "From")],
)  # fmt: skip
def test_bad_parameters_are_a_400_naming_the_field(state: SandboxState, params: dict, field: str) -> None:
    status, body = _list(state, **params)
    assert status == 400
    assert list(body["errors"]) == [field]
