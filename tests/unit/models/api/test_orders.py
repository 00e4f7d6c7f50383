"""``flex_provider.models.api.orders``: refunds in major units, order statuses and which of them are final."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from flex_provider.models.api import Order, OrderStatus, RefundRequest


def test_refund_amount_is_major_units_on_the_wire() -> None:
    req = RefundRequest(amount_to_refund=Decimal("1.500"), idempotency_key="k")
    assert req.to_wire() == {"amountToRefund": 1.5, "idempotencyKey": "k"}
    for bad in (Decimal(0), Decimal(-1), Decimal("1.00001")):
        with pytest.raises(ValidationError):
            RefundRequest(amount_to_refund=bad)


@pytest.mark.parametrize(
    ("status", "final"),
    [(0, False), (1, False), (2, True), (3, False), (4, False), (5, False), (6, True), (7, True), (8, True)],
)
def test_final_statuses(status: int, final: bool) -> None:
    order = Order.model_validate({"id": "o", "status": status})
    assert order.order_status == OrderStatus(status)
    assert order.is_final is final


def test_an_unknown_status_is_kept_and_not_final_and_the_external_id_has_aliases() -> None:
    order = Order.model_validate({"id": "o", "status": 42, "orderId": "ext-1", "somethingNew": 1})
    assert (order.status, order.order_status, order.is_final) == (42, None, False)
    assert order.external_order_id == "ext-1"
    assert Order.model_validate({"id": "o", "status": 7, "externalOrderId": "ext-2"}).external_order_id == "ext-2"
