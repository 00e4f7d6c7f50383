"""Flex's endpoints, each described once as a ``Call`` (path, body, answer model) for either hook."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel

from flex_provider.hooks.api.base import FlexApiBase
from flex_provider.hooks.api.call import Call
from flex_provider.models import api as models


class FlexApiEndpoints(FlexApiBase):
    """One ``_*_call`` builder per endpoint; the hooks run them."""

    def _token_call(self) -> Call:
        s = self._require_settings()
        return Call(
            "POST",
            "/oauth2/token",
            models.TokenResponse,
            json={"AppKey": s.app_key, "AppSecret": s.app_secret},
            auth=False,
            check_success=False,
        )

    def _tokenize_call(self, request: models.TokenizeRequest | Mapping[str, Any], mid: str | None) -> Call:
        body = (
            models.TokenizeRequest.model_validate(request) if not isinstance(request, models.TokenizeRequest) else request
        )
        params: dict[str, Any] = {"mid": self._mid(mid)}
        if self._require_settings().tokenization_key:
            params["environment"] = self._require_settings().tokenization_key
        return Call("POST", "/tokenize", models.TokenizeResponse, json=body.to_wire(), params=params)

    def _with_mid(self, request: BaseModel) -> dict[str, Any]:
        body = request.to_wire()  # type: ignore[attr-defined]
        body.setdefault("mid", self._mid(None))
        site_id = self._require_settings().site_id
        if site_id and "siteUrl" not in body:
            body.setdefault("siteId", site_id)
        return body

    def _transmit_call(self, request: models.TransmitRequest | Mapping[str, Any]) -> Call:
        req = request if isinstance(request, models.TransmitRequest) else models.TransmitRequest.model_validate(request)
        return Call("POST", "/transmit", models.TransmitResponse, json=self._with_mid(req))

    def _evaluate_call(self, request: models.EvaluateRequest | Mapping[str, Any]) -> Call:
        req = request if isinstance(request, models.EvaluateRequest) else models.EvaluateRequest.model_validate(request)
        return Call("POST", "/evaluate", models.EvaluateResponse, json=self._with_mid(req))

    def _get_order_call(self, order_id: str) -> Call:
        return Call("GET", f"/orders/{quote(order_id, safe='')}", models.Order, check_success=False)

    def _list_orders_call(
        self,
        page_number: int,
        page_size: int,
        status: list[int] | None,
        from_: datetime | None,
        to: datetime | None,
        query: str | None,
    ) -> Call:
        params: dict[str, Any] = {"pageNumber": page_number, "pageSize": page_size, "mid": self._mid(None)}
        if status:
            params["status"] = [int(s) for s in status]
        if from_:
            params["from"] = from_.isoformat()
        if to:
            params["to"] = to.isoformat()
        if query:
            params["query"] = query
        return Call("GET", "/orders", models.OrderPage, params=params, check_success=False)

    def _refund_call(
        self, order_id: str, amount: Decimal | float | str, message: str | None, idempotency_key: str | None
    ) -> Call:
        req = models.RefundRequest(
            amount_to_refund=Decimal(str(amount)), refund_message=message, idempotency_key=idempotency_key
        )
        return Call("POST", f"/orders/{quote(order_id, safe='')}/refund", models.RefundResponse, json=req.to_wire())

    def _cancel_call(self, order_id: str, idempotency_key: str | None, external: bool) -> Call:
        suffix = "external-cancel" if external else "cancel"
        body = models.CancelRequest(idempotency_key=idempotency_key).to_wire()
        return Call("POST", f"/orders/{quote(order_id, safe='')}/{suffix}", models.FlexEnvelope, json=body)

    def _capture_call(self, order_id: str, amount: int, currency: str, idempotency_key: str) -> Call:
        req = models.CaptureRequest(
            idempotency_key=idempotency_key, order_id=order_id, amount=amount, currency=currency
        )
        return Call("POST", "/capture", models.CaptureResponse, json=req.to_wire())

