"""``FlexApiAsyncHook``: Flex's REST API from triggers (httpx.AsyncClient), same errors and retries."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from airflow.sdk.log import mask_secret
from tenacity import AsyncRetrying
from typing_extensions import Self

from flex_provider.hooks.api.call import Call, request_headers
from flex_provider.hooks.api.endpoints import FlexApiEndpoints
from flex_provider.hooks.api.errors import transport_error
from flex_provider.hooks.api.settings import FlexConnectionSettings
from flex_provider.hooks.api.token_cache import TOKEN_CACHE
from flex_provider.models import api as models

if TYPE_CHECKING:
    import httpx

class FlexApiAsyncHook(FlexApiEndpoints):
    """
    Talk to Flex's REST API from async code (triggers), with the same errors and retries as ``FlexApiHook``.

    :param flex_conn_id: a ``flex`` connection (see ``FlexApiHook``).
    """

    #: One token fetch at a time per hook (made in the running event loop, on first need).
    _token_lock: asyncio.Lock | None = None

    async def get_settings(self) -> FlexConnectionSettings:
        """The parsed connection, read with Airflow's async connection API."""
        if self._settings is None:
            self._settings_from(await self.aget_connection(self.flex_conn_id))
        return self._require_settings()

    async def get_async_conn(self) -> httpx.AsyncClient:
        """Return the async HTTP client, one per hook."""
        if self._client is None:
            import httpx

            limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
            self._client = httpx.AsyncClient(**self._client_options(await self.get_settings()), limits=limits)
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _send_once(self, call: Call, token: str | None) -> httpx.Response:
        import httpx

        client = await self.get_async_conn()
        started = time.monotonic()
        try:
            response = await client.request(
                call.method, call.path, json=call.json, params=call.params, headers=request_headers(token)
            )
        except httpx.TransportError as exc:
            raise transport_error(call, exc) from None
        self._log_answer(call, response, started)
        return response

    async def get_token(self) -> str:
        """Return a valid bearer token, from the shared cache while it is fresh."""
        await self.get_settings()
        token = TOKEN_CACHE.get(self._token_key)
        if token is not None:
            return token
        if self._token_lock is None:
            self._token_lock = asyncio.Lock()
        async with self._token_lock:
            token = TOKEN_CACHE.get(self._token_key)
            if token is None:
                response: models.TokenResponse = await self._run(self._token_call())
                mask_secret(response.access_token)
                token = TOKEN_CACHE.put(self._token_key, response)
            return token

    async def _attempt(self, call: Call) -> Any:
        token = await self.get_token() if call.auth else None
        response = await self._send_once(call, token)
        if response.status_code == 401 and call.auth:
            TOKEN_CACHE.invalidate(self._token_key, token)
            response = await self._send_once(call, await self.get_token())
        return self._parse(call, response)

    async def _run(self, call: Call) -> Any:
        await self.get_settings()
        async for attempt in AsyncRetrying(**self._retrying_kwargs()):
            with attempt:
                return await self._attempt(call)
        raise AssertionError("unreachable")  # pragma: no cover

    async def tokenize(
        self, request: models.TokenizeRequest | Mapping[str, Any], *, mid: str | None = None
    ) -> models.TokenizeResponse:
        """Vault a card with Flex."""
        await self.get_settings()
        return await self._run(self._tokenize_call(request, mid))

    async def transmit(self, request: models.TransmitRequest | Mapping[str, Any]) -> models.TransmitResponse:
        """Send Flex a copy of an approved transaction."""
        await self.get_settings()
        return await self._run(self._transmit_call(request))

    async def evaluate(self, request: models.EvaluateRequest | Mapping[str, Any]) -> models.EvaluateResponse:
        """Hand a declined transaction to Flex."""
        await self.get_settings()
        return await self._run(self._evaluate_call(request))

    async def get_order(self, order_id: str) -> models.Order:
        """Return one order by Flex order id."""
        await self.get_settings()
        return await self._run(self._get_order_call(order_id))

    async def list_orders(
        self,
        *,
        status: list[int] | None = None,
        from_: datetime | None = None,
        to: datetime | None = None,
        query: str | None = None,
        page_size: int = 100,
    ) -> AsyncIterator[models.Order]:
        """Iterate over every order matching the filters, page by page."""
        await self.get_settings()
        page = 1
        while True:
            result: models.OrderPage = await self._run(
                self._list_orders_call(page, page_size, status, from_, to, query)
            )
            for order in result.items:
                yield order
            if not result.has_next_page or not result.items:
                return
            page += 1

    async def refund(
        self,
        order_id: str,
        amount: Decimal | float | str,
        *,
        message: str | None = None,
        idempotency_key: str | None = None,
    ) -> models.RefundResponse:
        """Refund an approved order; ``amount`` in dollars."""
        await self.get_settings()
        return await self._run(self._refund_call(order_id, amount, message, idempotency_key))

    async def cancel(self, order_id: str, *, idempotency_key: str | None = None) -> models.FlexEnvelope:
        """Cancel a pending order by Flex order id."""
        await self.get_settings()
        return await self._run(self._cancel_call(order_id, idempotency_key, external=False))

    async def external_cancel(
        self, external_order_id: str, *, idempotency_key: str | None = None
    ) -> models.FlexEnvelope:
        """Cancel a pending order by the merchant's order id."""
        await self.get_settings()
        return await self._run(self._cancel_call(external_order_id, idempotency_key, external=True))

    async def capture(
        self, order_id: str, amount: int, currency: str, *, idempotency_key: str
    ) -> models.CaptureResponse:
        """Capture an order waiting in CAPTUREREQUIRED; ``amount`` in cents."""
        await self.get_settings()
        return await self._run(self._capture_call(order_id, amount, currency, idempotency_key))
