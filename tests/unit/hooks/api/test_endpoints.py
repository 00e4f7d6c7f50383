"""``FlexApiEndpoints``: each endpoint described once as a ``Call`` (path, body with mid/site, answer model)."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from flex_provider.hooks.api.endpoints import FlexApiEndpoints
from flex_provider.hooks.api.settings import FlexConnectionSettings
from flex_provider.models.api import OrderPage, RefundResponse, TokenResponse


def _endpoints(**settings: object) -> FlexApiEndpoints:
    values = {"base_url": "https://flex.test/v1", "app_key": "key", "app_secret": "secret", "mid": "m-1", **settings}
    return FlexApiEndpoints("flex_x", settings=FlexConnectionSettings(**values))  # type: ignore[arg-type]


def test_the_token_call_sends_the_app_key_and_secret_without_auth() -> None:
    call = _endpoints()._token_call()
    assert (call.method, call.path, call.response_model, call.auth) == ("POST", "/oauth2/token", TokenResponse, False)
    assert call.json == {"AppKey": "key", "AppSecret": "secret"}


def test_list_orders_carries_the_connection_mid_and_the_filters() -> None:
    since = datetime(2026, 11, 24, tzinfo=timezone.utc)
    call = _endpoints()._list_orders_call(2, 50, [7, 8], since, None, "sub-1")
    assert (call.path, call.response_model) == ("/orders", OrderPage)
    assert call.params == {"pageNumber": 2, "pageSize": 50, "mid": "m-1", "status": [7, 8],
                           "from": "2026-11-24T00:00:00+00:00", "query": "sub-1"}  # fmt: skip


def test_refund_quotes_the_order_id_and_sends_dollars() -> None:
    call = _endpoints()._refund_call("a/b", Decimal("12.50"), "partial", "key-1")
    assert (call.method, call.path, call.response_model) == ("POST", "/orders/a%2Fb/refund", RefundResponse)
    assert call.json is not None
    assert Decimal(str(call.json["amountToRefund"])) == Decimal("12.50")
    assert call.json["idempotencyKey"] == "key-1"


def test_a_body_without_mid_gets_the_connection_mid_and_site() -> None:
    body = _endpoints(site_id="site-9")._with_mid(_Wire({"orderId": "o-1"}))
    assert body == {"orderId": "o-1", "mid": "m-1", "siteId": "site-9"}
    assert _endpoints()._with_mid(_Wire({"mid": "own"}))["mid"] == "own"


class _Wire:
    def __init__(self, body: dict) -> None:
        self.body = body

    def to_wire(self) -> dict:
        return dict(self.body)
