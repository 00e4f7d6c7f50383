"""``FlexApiHook``: Flex's REST API from a worker (httpx.Client), one method per endpoint."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from airflow.sdk.log import mask_secret
from tenacity import Retrying
from typing_extensions import Self

from flex_provider.hooks.api.call import Call, request_headers
from flex_provider.hooks.api.endpoints import FlexApiEndpoints
from flex_provider.hooks.api.errors import transport_error
from flex_provider.hooks.api.settings import FlexConnectionSettings
from flex_provider.hooks.api.token_cache import TOKEN_CACHE
from flex_provider.models import api as models

if TYPE_CHECKING:
    import httpx

class FlexApiHook(FlexApiEndpoints):
    """
    Talk to Flex's REST API from a worker.

    :param flex_conn_id: a ``flex`` connection: host = base URL (empty for Flex's sandbox), login = app key,
        password = app secret, extras ``mid``, ``site_id``, ``tokenization_key``, ``webhook_secret``,
        ``timeout``, ``max_retries``.
    :param timeout: seconds per request (overrides the connection's ``timeout``).
    :param max_retries: retries after the first attempt for 5xx, 429 and network errors.
    """

    def _require_settings(self) -> FlexConnectionSettings:
        if self._settings is None:
            self._settings_from(self.get_connection(self.flex_conn_id))
        return super()._require_settings()

    @property
    def settings(self) -> FlexConnectionSettings:
        """The parsed connection (loaded on first use)."""
        return self._require_settings()

    def get_conn(self) -> httpx.Client:
        """Return the HTTP client, one per hook, kept alive across calls."""
        if self._client is None:
            import httpx

            self._client = httpx.Client(**self._client_options(self.settings))
        return self._client

    def close(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # transport ----------------------------------------------------------------------------------------

    def _send_once(self, call: Call, token: str | None) -> httpx.Response:
        import httpx

        started = time.monotonic()
        try:
            response = self.get_conn().request(
                call.method, call.path, json=call.json, params=call.params, headers=request_headers(token)
            )
        except httpx.TransportError as exc:
            raise transport_error(call, exc) from None
        self._log_answer(call, response, started)
        return response

    def get_token(self, *, force_refresh: bool = False) -> str:
        """
        Return a valid bearer token, from the cache while it is fresh; ``force_refresh`` fetches a new
        one (a token that must live long after this call, e.g. in a batch file Flex reads later).
        """
        with TOKEN_CACHE.lock:
            if force_refresh:
                TOKEN_CACHE.invalidate(self._token_key, None)
            token = TOKEN_CACHE.get(self._token_key)
            if token is None:
                call = self._token_call()
                response: models.TokenResponse = self._run(call)
                mask_secret(response.access_token)
                token = TOKEN_CACHE.put(self._token_key, response)
                self.log.info(
                    "Fetched a Flex access token (valid until %s)",
                    datetime.fromtimestamp(response.expires / 1000),
                )
            return token

    def _attempt(self, call: Call) -> Any:
        token = self.get_token() if call.auth else None
        response = self._send_once(call, token)
        if response.status_code == 401 and call.auth:
            # The token was revoked or expired early: fetch a new one once, then resend.
            TOKEN_CACHE.invalidate(self._token_key, token)
            response = self._send_once(call, self.get_token())
        return self._parse(call, response)

    def _run(self, call: Call) -> Any:
        for attempt in Retrying(**self._retrying_kwargs()):
            with attempt:
                return self._attempt(call)
        raise AssertionError("unreachable")  # pragma: no cover

    # operations -----------------------------------------------------------------------------------------

    def tokenize(
        self, request: models.TokenizeRequest | Mapping[str, Any], *, mid: str | None = None
    ) -> models.TokenizeResponse:
        """Vault a card with Flex; returns the token to store for later evaluations."""
        return self._run(self._tokenize_call(request, mid))

    def transmit(self, request: models.TransmitRequest | Mapping[str, Any]) -> models.TransmitResponse:
        """Send Flex a copy of an approved transaction (fire and forget)."""
        return self._run(self._transmit_call(request))

    def evaluate(self, request: models.EvaluateRequest | Mapping[str, Any]) -> models.EvaluateResponse:
        """Hand a declined transaction to Flex; the answer carries Flex's order id (``orderSessionKey``)."""
        return self._run(self._evaluate_call(request))

    def get_order(self, order_id: str) -> models.Order:
        """Return one order by Flex order id."""
        return self._run(self._get_order_call(order_id))

    def list_orders(
        self,
        *,
        status: list[int] | None = None,
        from_: datetime | None = None,
        to: datetime | None = None,
        query: str | None = None,
        page_size: int = 100,
    ) -> Iterator[models.Order]:
        """Iterate over every order matching the filters, page by page (each page retried on its own)."""
        page = 1
        while True:
            result: models.OrderPage = self._run(self._list_orders_call(page, page_size, status, from_, to, query))
            yield from result.items
            if not result.has_next_page or not result.items:
                return
            page += 1

    def refund(
        self,
        order_id: str,
        amount: Decimal | float | str,
        *,
        message: str | None = None,
        idempotency_key: str | None = None,
    ) -> models.RefundResponse:
        """Refund an approved order in full or in part; ``amount`` is in dollars, as Flex's refund takes it."""
        return self._run(self._refund_call(order_id, amount, message, idempotency_key))

    def cancel(self, order_id: str, *, idempotency_key: str | None = None) -> models.FlexEnvelope:
        """Cancel a pending order by Flex order id."""
        return self._run(self._cancel_call(order_id, idempotency_key, external=False))

    def external_cancel(self, external_order_id: str, *, idempotency_key: str | None = None) -> models.FlexEnvelope:
        """Cancel a pending order by the merchant's own order id (when Flex's id is unknown)."""
        return self._run(self._cancel_call(external_order_id, idempotency_key, external=True))

    def capture(self, order_id: str, amount: int, currency: str, *, idempotency_key: str) -> models.CaptureResponse:
        """Capture an order waiting in CAPTUREREQUIRED; ``amount`` in cents."""
        return self._run(self._capture_call(order_id, amount, currency, idempotency_key))

    def test_connection(self) -> tuple[bool, str]:
        """Check the credentials by fetching a token."""
        try:
            self.get_token(force_refresh=True)
        except Exception as exc:  # noqa: BLE001 - any failure is the answer to the test
            return False, str(exc)
        return True, f"Authenticated with Flex at {self.settings.base_url}"

