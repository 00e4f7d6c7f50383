"""
Hooks for Flex's REST API: ``FlexApiHook`` (sync, for workers) and ``FlexApiAsyncHook`` (for triggers).

Both twins share one connection parser, one token cache, one error map and one retry policy; each API
operation is described once (``_Call``) and executed by either twin.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

from airflow.sdk import BaseHook
from pydantic import BaseModel, ValidationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
)
from tenacity.wait import wait_base
from typing_extensions import Self

from flex_provider.exceptions import (
    FlexAuthError,
    FlexBusinessError,
    FlexConflictError,
    FlexConnectionError,
    FlexError,
    FlexNotFoundError,
    FlexRateLimitError,
    FlexServerError,
    FlexValidationError,
)
from flex_provider.models.api import (
    CancelRequest,
    CaptureRequest,
    CaptureResponse,
    EvaluateRequest,
    EvaluateResponse,
    FlexEnvelope,
    Order,
    OrderPage,
    ProblemDetails,
    RefundRequest,
    RefundResponse,
    TokenizeRequest,
    TokenizeResponse,
    TokenResponse,
    TransmitRequest,
    TransmitResponse,
)
from flex_provider.webhooks.keys import webhook_keys

if TYPE_CHECKING:
    import httpx
    from airflow.sdk import Connection

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api-sandbox.flexfactor.io/v1"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 4
#: Refresh a cached token this many seconds before Flex says it expires.
TOKEN_REFRESH_MARGIN = 60.0

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class FlexConnectionSettings:
    """What a ``flex`` connection holds, parsed once."""

    base_url: str
    app_key: str
    app_secret: str = field(repr=False)
    mid: str | None = None
    site_id: str | None = None
    tokenization_key: str | None = field(default=None, repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    verify: bool = True

    @classmethod
    def from_connection(
        cls, conn: Connection, extra: Mapping[str, Any] | None = None
    ) -> FlexConnectionSettings:
        """Build settings from an Airflow connection (host may be a full URL; empty host = Flex's sandbox)."""
        extra = dict(conn.extra_dejson if extra is None else extra)
        host = (conn.host or "").strip()
        if not host:
            base_url = DEFAULT_BASE_URL
        elif "://" in host:
            base_url = _with_port(host, conn.port)
        else:
            scheme = conn.schema or "https"
            port = f":{conn.port}" if conn.port else ""
            base_url = f"{scheme}://{host}{port}/v1"
        if not conn.login or not conn.password:
            raise FlexAuthError(
                f"Connection {conn.conn_id!r} needs the app key (login) and app secret (password)"
            )

        def _opt(name: str) -> str | None:
            value = extra.get(name)
            return str(value) if value not in (None, "") else None

        return cls(
            base_url=base_url.rstrip("/"),
            app_key=conn.login,
            app_secret=conn.password,
            mid=_opt("mid"),
            site_id=_opt("site_id"),
            tokenization_key=_opt("tokenization_key"),
            webhook_secret=next(iter(webhook_keys(extra)), None),
            timeout=float(extra.get("timeout") or DEFAULT_TIMEOUT),
            max_retries=int(extra["max_retries"])
            if extra.get("max_retries") not in (None, "")
            else DEFAULT_MAX_RETRIES,
            verify=str(extra.get("verify", "true")).lower() not in ("false", "0", "no"),
        )


def _with_port(url: str, port: int | None) -> str:
    """``url`` with the connection's port applied when the URL names none (a differing one is an error).

    The port field is shown in the connection form because Airflow's Test button sends the stored port
    back; keeping it in line with the Base URL makes that check pass.
    """
    if not port:
        return url
    parts = urlsplit(url)
    if parts.port is None:
        return urlunsplit(parts._replace(netloc=f"{parts.netloc}:{port}"))
    if parts.port != int(port):
        raise ValueError(f"port {port} differs from the Base URL's port {parts.port}: leave one of them out")
    return url


@dataclass
class _Token:
    value: str
    expires_at: float  # epoch seconds

    def fresh(self) -> bool:
        return time.time() < self.expires_at - TOKEN_REFRESH_MARGIN


class _TokenCache:
    """Process-wide bearer tokens keyed by (base URL, app key): one token serves every hook instance."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, ...], _Token] = {}
        self.lock = threading.Lock()

    def get(self, key: tuple[str, ...]) -> str | None:
        token = self._tokens.get(key)
        return token.value if token and token.fresh() else None

    def put(self, key: tuple[str, ...], response: TokenResponse) -> str:
        self._tokens[key] = _Token(response.access_token, response.expires / 1000.0)
        return response.access_token

    def invalidate(self, key: tuple[str, ...], value: str | None) -> None:
        token = self._tokens.get(key)
        if token and (value is None or token.value == value):
            del self._tokens[key]


TOKEN_CACHE = _TokenCache()


@dataclass(frozen=True)
class _Call:
    """One API operation, described once and run by either twin."""

    method: str
    path: str
    response_model: type[BaseModel] | None
    json: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    auth: bool = True
    check_success: bool = True


# --- the shared error map ---------------------------------------------------------------------------


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def error_from_response(response: httpx.Response, what: str) -> FlexError | None:
    """Map one HTTP answer to the typed error it means, or None for a success."""
    status = response.status_code
    if 200 <= status < 300:
        return None
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    problem = ProblemDetails.model_validate(body) if isinstance(body, dict) else ProblemDetails()
    trace_id = problem.trace() or response.headers.get("traceparent") or response.headers.get("x-trace-id")
    code = str(body.get("responseCode")) if isinstance(body, dict) and body.get("responseCode") else None
    title = problem.title or response.reason_phrase or "error"
    kwargs: dict[str, Any] = {"status": status, "code": code, "trace_id": trace_id}
    message = f"Flex {what} failed: {title}"
    if status == 400:
        fields = problem.field_errors()
        if what == "authentication":
            return FlexAuthError(message + " (check the app key and secret)", field_errors=fields, **kwargs)
        return FlexValidationError(message, field_errors=fields, **kwargs)
    if status in (401, 403):
        return FlexAuthError(message, **kwargs)
    if status == 404:
        return FlexNotFoundError(message, **kwargs)
    if status == 409:
        return FlexConflictError(message, field_errors=problem.field_errors(), **kwargs)
    if status == 429:
        return FlexRateLimitError(
            message, retry_after=_retry_after_seconds(response.headers.get("retry-after")), **kwargs
        )
    if status >= 500:
        return FlexServerError(message, **kwargs)
    return FlexError(message, **kwargs)


def _business_error(call: _Call, body: Any) -> FlexBusinessError | None:
    if call.check_success and isinstance(body, dict) and body.get("success") is False:
        return FlexBusinessError(
            f"Flex refused {call.method} {call.path}: {body.get('responseMessage') or body.get('status') or 'failed'}",
            status=200,
            code=str(body.get("responseCode")) if body.get("responseCode") else None,
            trace_id=body.get("traceId"),
            body={k: body.get(k) for k in ("status", "responseCode", "responseMessage", "transactionId")},
        )
    return None


# --- the shared retry policy ------------------------------------------------------------------------

RETRYABLE = (FlexConnectionError, FlexServerError, FlexRateLimitError)


class _FlexWait(wait_base):
    """Exponential backoff with full jitter; a 429's Retry-After wins, capped."""

    def __init__(self, initial: float, maximum: float, retry_after_cap: float) -> None:
        self.initial = initial
        self.maximum = maximum
        self.retry_after_cap = retry_after_cap

    def __call__(self, retry_state: RetryCallState) -> float:
        import random

        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, FlexRateLimitError) and exc.retry_after is not None:
            return min(exc.retry_after, self.retry_after_cap)
        ceiling = min(self.maximum, self.initial * 2 ** (retry_state.attempt_number - 1))
        return random.uniform(self.initial / 2, ceiling)


def _log_retry(retry_state: RetryCallState) -> None:
    exc = retry_state.outcome.exception() if retry_state.outcome else None
    log.warning(
        "Flex call failed (attempt %d), retrying in %.2fs: %s",
        retry_state.attempt_number,
        retry_state.upcoming_sleep,
        exc,
    )


# --- the common base --------------------------------------------------------------------------------


class _FlexApiBase(BaseHook):
    """Settings, operation descriptions and policy shared by the sync and async hooks."""

    conn_name_attr = "flex_conn_id"
    default_conn_name = "flex_default"
    conn_type = "flex"
    hook_name = "Flex"

    def __init__(
        self,
        flex_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        backoff_initial: float = 0.5,
        backoff_max: float = 8.0,
        retry_after_cap: float = 60.0,
        settings: FlexConnectionSettings | None = None,
    ) -> None:
        super().__init__()
        self.flex_conn_id = flex_conn_id
        self._timeout = timeout
        self._max_retries = max_retries
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.retry_after_cap = retry_after_cap
        self._settings = settings

    # settings ---------------------------------------------------------------------------------------

    def _finish_settings(self, settings: FlexConnectionSettings) -> FlexConnectionSettings:
        from airflow.sdk.log import mask_secret

        for secret in (settings.app_secret, settings.tokenization_key, settings.webhook_secret):
            if secret:
                mask_secret(secret)
        self._settings = settings
        return settings

    @property
    def timeout(self) -> float:
        return self._timeout if self._timeout is not None else self._require_settings().timeout

    @property
    def max_retries(self) -> int:
        return self._max_retries if self._max_retries is not None else self._require_settings().max_retries

    def _require_settings(self) -> FlexConnectionSettings:
        if self._settings is None:
            raise RuntimeError("settings not loaded yet")
        return self._settings

    @property
    def _token_key(self) -> tuple[str, str, str]:
        # The secret's digest is part of the key, so a rotated secret never reuses the old token.
        s = self._require_settings()
        return (s.base_url, s.app_key, hashlib.sha256(s.app_secret.encode()).hexdigest()[:16])

    def _retrying_kwargs(self) -> dict[str, Any]:
        return {
            "stop": stop_after_attempt(self.max_retries + 1),
            "wait": _FlexWait(self.backoff_initial, self.backoff_max, self.retry_after_cap),
            "retry": retry_if_exception_type(RETRYABLE),
            "before_sleep": _log_retry,
            "reraise": True,
        }

    def _mid(self, mid: str | None) -> str:
        value = mid or self._require_settings().mid
        if not value:
            raise ValueError(f"No mid given and connection {self.flex_conn_id!r} has no 'mid' extra")
        return value

    # operations, each described once -------------------------------------------------------------------

    def _token_call(self) -> _Call:
        s = self._require_settings()
        return _Call(
            "POST",
            "/oauth2/token",
            TokenResponse,
            json={"AppKey": s.app_key, "AppSecret": s.app_secret},
            auth=False,
            check_success=False,
        )

    def _tokenize_call(self, request: TokenizeRequest | Mapping[str, Any], mid: str | None) -> _Call:
        body = (
            TokenizeRequest.model_validate(request) if not isinstance(request, TokenizeRequest) else request
        )
        params: dict[str, Any] = {"mid": self._mid(mid)}
        if self._require_settings().tokenization_key:
            params["environment"] = self._require_settings().tokenization_key
        return _Call("POST", "/tokenize", TokenizeResponse, json=body.to_wire(), params=params)

    def _with_mid(self, request: BaseModel) -> dict[str, Any]:
        body = request.to_wire()  # type: ignore[attr-defined]
        body.setdefault("mid", self._mid(None))
        site_id = self._require_settings().site_id
        if site_id and "siteUrl" not in body:
            body.setdefault("siteId", site_id)
        return body

    def _transmit_call(self, request: TransmitRequest | Mapping[str, Any]) -> _Call:
        req = request if isinstance(request, TransmitRequest) else TransmitRequest.model_validate(request)
        return _Call("POST", "/transmit", TransmitResponse, json=self._with_mid(req))

    def _evaluate_call(self, request: EvaluateRequest | Mapping[str, Any]) -> _Call:
        req = request if isinstance(request, EvaluateRequest) else EvaluateRequest.model_validate(request)
        return _Call("POST", "/evaluate", EvaluateResponse, json=self._with_mid(req))

    def _get_order_call(self, order_id: str) -> _Call:
        return _Call("GET", f"/orders/{quote(order_id, safe='')}", Order, check_success=False)

    def _list_orders_call(
        self,
        page_number: int,
        page_size: int,
        status: list[int] | None,
        from_: datetime | None,
        to: datetime | None,
        query: str | None,
    ) -> _Call:
        params: dict[str, Any] = {"pageNumber": page_number, "pageSize": page_size, "mid": self._mid(None)}
        if status:
            params["status"] = [int(s) for s in status]
        if from_:
            params["from"] = from_.isoformat()
        if to:
            params["to"] = to.isoformat()
        if query:
            params["query"] = query
        return _Call("GET", "/orders", OrderPage, params=params, check_success=False)

    def _refund_call(
        self, order_id: str, amount: Decimal | float | str, message: str | None, idempotency_key: str | None
    ) -> _Call:
        req = RefundRequest(
            amount_to_refund=Decimal(str(amount)), refund_message=message, idempotency_key=idempotency_key
        )
        return _Call("POST", f"/orders/{quote(order_id, safe='')}/refund", RefundResponse, json=req.to_wire())

    def _cancel_call(self, order_id: str, idempotency_key: str | None, external: bool) -> _Call:
        suffix = "external-cancel" if external else "cancel"
        body = CancelRequest(idempotency_key=idempotency_key).to_wire()
        return _Call("POST", f"/orders/{quote(order_id, safe='')}/{suffix}", FlexEnvelope, json=body)

    def _capture_call(self, order_id: str, amount: int, currency: str, idempotency_key: str) -> _Call:
        req = CaptureRequest(
            idempotency_key=idempotency_key, order_id=order_id, amount=amount, currency=currency
        )
        return _Call("POST", "/capture", CaptureResponse, json=req.to_wire())

    # answers ------------------------------------------------------------------------------------------

    def _parse(self, call: _Call, response: httpx.Response) -> Any:
        error = error_from_response(
            response, "authentication" if call.path == "/oauth2/token" else f"{call.method} {call.path}"
        )
        if error is not None:
            raise error
        body: Any = response.json() if response.content else {}
        business = _business_error(call, body)
        if business is not None:
            raise business
        if call.response_model is None:
            return body
        try:
            return call.response_model.model_validate(body)
        except ValidationError as exc:
            raise FlexError(
                f"Flex answered {call.method} {call.path} with an unexpected body: "
                f"{exc.errors(include_input=False, include_url=False)}",
                status=response.status_code,
            ) from None

    def _log_answer(self, call: _Call, response: httpx.Response, started: float) -> None:
        self.log.debug(
            "Flex %s %s -> %s in %.0f ms",
            call.method,
            call.path,
            response.status_code,
            (time.monotonic() - started) * 1000,
        )


def _headers(token: str | None) -> dict[str, str]:
    headers = {"Accept": "application/json", "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _transport_error(call: _Call, exc: Exception) -> FlexConnectionError:
    return FlexConnectionError(f"Flex {call.method} {call.path}: no answer ({type(exc).__name__}: {exc})")


class FlexApiHook(_FlexApiBase):
    """
    Talk to Flex's REST API from a worker.

    :param flex_conn_id: a ``flex`` connection: host = base URL (empty for Flex's sandbox), login = app key,
        password = app secret, extras ``mid``, ``site_id``, ``tokenization_key``, ``webhook_secret``,
        ``timeout``, ``max_retries``.
    :param timeout: seconds per request (overrides the connection's ``timeout``).
    :param max_retries: retries after the first attempt for 5xx, 429 and network errors.
    """

    def __init__(self, flex_conn_id: str = _FlexApiBase.default_conn_name, **kwargs: Any) -> None:
        super().__init__(flex_conn_id, **kwargs)
        self._client: httpx.Client | None = None

    def _require_settings(self) -> FlexConnectionSettings:
        if self._settings is None:
            self._finish_settings(
                FlexConnectionSettings.from_connection(self.get_connection(self.flex_conn_id))
            )
        return super()._require_settings()

    @property
    def settings(self) -> FlexConnectionSettings:
        """The parsed connection (loaded on first use)."""
        return self._require_settings()

    def get_conn(self) -> httpx.Client:
        """Return the HTTP client, one per hook, kept alive across calls."""
        if self._client is None:
            import httpx

            s = self.settings
            self._client = httpx.Client(base_url=s.base_url, timeout=self.timeout, verify=s.verify)
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

    def _send_once(self, call: _Call, token: str | None) -> httpx.Response:
        import httpx

        started = time.monotonic()
        try:
            response = self.get_conn().request(
                call.method, call.path, json=call.json, params=call.params, headers=_headers(token)
            )
        except httpx.TransportError as exc:
            raise _transport_error(call, exc) from None
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
                response: TokenResponse = self._run(call)
                from airflow.sdk.log import mask_secret

                mask_secret(response.access_token)
                token = TOKEN_CACHE.put(self._token_key, response)
                self.log.info(
                    "Fetched a Flex access token (valid until %s)",
                    datetime.fromtimestamp(response.expires / 1000),
                )
            return token

    def _attempt(self, call: _Call) -> Any:
        token = self.get_token() if call.auth else None
        response = self._send_once(call, token)
        if response.status_code == 401 and call.auth:
            # The token was revoked or expired early: fetch a new one once, then resend.
            TOKEN_CACHE.invalidate(self._token_key, token)
            response = self._send_once(call, self.get_token())
        return self._parse(call, response)

    def _run(self, call: _Call) -> Any:
        for attempt in Retrying(**self._retrying_kwargs()):
            with attempt:
                return self._attempt(call)
        raise AssertionError("unreachable")  # pragma: no cover

    # operations -----------------------------------------------------------------------------------------

    def tokenize(
        self, request: TokenizeRequest | Mapping[str, Any], *, mid: str | None = None
    ) -> TokenizeResponse:
        """Vault a card with Flex; returns the token to store for later evaluations."""
        return self._run(self._tokenize_call(request, mid))

    def transmit(self, request: TransmitRequest | Mapping[str, Any]) -> TransmitResponse:
        """Send Flex a copy of an approved transaction (fire and forget)."""
        return self._run(self._transmit_call(request))

    def evaluate(self, request: EvaluateRequest | Mapping[str, Any]) -> EvaluateResponse:
        """Hand a declined transaction to Flex; the answer carries Flex's order id (``orderSessionKey``)."""
        return self._run(self._evaluate_call(request))

    def get_order(self, order_id: str) -> Order:
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
    ) -> Iterator[Order]:
        """Iterate over every order matching the filters, page by page (each page retried on its own)."""
        page = 1
        while True:
            result: OrderPage = self._run(self._list_orders_call(page, page_size, status, from_, to, query))
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
    ) -> RefundResponse:
        """Refund an approved order in full or in part; ``amount`` is in dollars, as Flex's refund takes it."""
        return self._run(self._refund_call(order_id, amount, message, idempotency_key))

    def cancel(self, order_id: str, *, idempotency_key: str | None = None) -> FlexEnvelope:
        """Cancel a pending order by Flex order id."""
        return self._run(self._cancel_call(order_id, idempotency_key, external=False))

    def external_cancel(self, external_order_id: str, *, idempotency_key: str | None = None) -> FlexEnvelope:
        """Cancel a pending order by the merchant's own order id (when Flex's id is unknown)."""
        return self._run(self._cancel_call(external_order_id, idempotency_key, external=True))

    def capture(self, order_id: str, amount: int, currency: str, *, idempotency_key: str) -> CaptureResponse:
        """Capture an order waiting in CAPTUREREQUIRED; ``amount`` in cents."""
        return self._run(self._capture_call(order_id, amount, currency, idempotency_key))

    def test_connection(self) -> tuple[bool, str]:
        """Check the credentials by fetching a token."""
        try:
            self.get_token(force_refresh=True)
        except Exception as exc:  # noqa: BLE001 - any failure is the answer to the test
            return False, str(exc)
        return True, f"Authenticated with Flex at {self.settings.base_url}"


class FlexApiAsyncHook(_FlexApiBase):
    """
    Talk to Flex's REST API from async code (triggers), with the same errors and retries as ``FlexApiHook``.

    :param flex_conn_id: a ``flex`` connection (see ``FlexApiHook``).
    """

    def __init__(self, flex_conn_id: str = _FlexApiBase.default_conn_name, **kwargs: Any) -> None:
        super().__init__(flex_conn_id, **kwargs)
        self._client: httpx.AsyncClient | None = None
        self._token_lock: asyncio.Lock | None = None

    async def get_settings(self) -> FlexConnectionSettings:
        """The parsed connection, read with Airflow's async connection API."""
        if self._settings is None:
            conn = await self.aget_connection(self.flex_conn_id)
            self._finish_settings(FlexConnectionSettings.from_connection(conn))
        return self._require_settings()

    async def get_async_conn(self) -> httpx.AsyncClient:
        """Return the async HTTP client, one per hook."""
        if self._client is None:
            import httpx

            s = await self.get_settings()
            limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
            self._client = httpx.AsyncClient(
                base_url=s.base_url, timeout=self.timeout, verify=s.verify, limits=limits
            )
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

    async def _send_once(self, call: _Call, token: str | None) -> httpx.Response:
        import httpx

        client = await self.get_async_conn()
        started = time.monotonic()
        try:
            response = await client.request(
                call.method, call.path, json=call.json, params=call.params, headers=_headers(token)
            )
        except httpx.TransportError as exc:
            raise _transport_error(call, exc) from None
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
                response: TokenResponse = await self._run(self._token_call())
                from airflow.sdk.log import mask_secret

                mask_secret(response.access_token)
                token = TOKEN_CACHE.put(self._token_key, response)
            return token

    async def _attempt(self, call: _Call) -> Any:
        token = await self.get_token() if call.auth else None
        response = await self._send_once(call, token)
        if response.status_code == 401 and call.auth:
            TOKEN_CACHE.invalidate(self._token_key, token)
            response = await self._send_once(call, await self.get_token())
        return self._parse(call, response)

    async def _run(self, call: _Call) -> Any:
        await self.get_settings()
        async for attempt in AsyncRetrying(**self._retrying_kwargs()):
            with attempt:
                return await self._attempt(call)
        raise AssertionError("unreachable")  # pragma: no cover

    async def tokenize(
        self, request: TokenizeRequest | Mapping[str, Any], *, mid: str | None = None
    ) -> TokenizeResponse:
        """Vault a card with Flex."""
        await self.get_settings()
        return await self._run(self._tokenize_call(request, mid))

    async def transmit(self, request: TransmitRequest | Mapping[str, Any]) -> TransmitResponse:
        """Send Flex a copy of an approved transaction."""
        await self.get_settings()
        return await self._run(self._transmit_call(request))

    async def evaluate(self, request: EvaluateRequest | Mapping[str, Any]) -> EvaluateResponse:
        """Hand a declined transaction to Flex."""
        await self.get_settings()
        return await self._run(self._evaluate_call(request))

    async def get_order(self, order_id: str) -> Order:
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
    ) -> AsyncIterator[Order]:
        """Iterate over every order matching the filters, page by page."""
        await self.get_settings()
        page = 1
        while True:
            result: OrderPage = await self._run(
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
    ) -> RefundResponse:
        """Refund an approved order; ``amount`` in dollars."""
        await self.get_settings()
        return await self._run(self._refund_call(order_id, amount, message, idempotency_key))

    async def cancel(self, order_id: str, *, idempotency_key: str | None = None) -> FlexEnvelope:
        """Cancel a pending order by Flex order id."""
        await self.get_settings()
        return await self._run(self._cancel_call(order_id, idempotency_key, external=False))

    async def external_cancel(
        self, external_order_id: str, *, idempotency_key: str | None = None
    ) -> FlexEnvelope:
        """Cancel a pending order by the merchant's order id."""
        await self.get_settings()
        return await self._run(self._cancel_call(external_order_id, idempotency_key, external=True))

    async def capture(
        self, order_id: str, amount: int, currency: str, *, idempotency_key: str
    ) -> CaptureResponse:
        """Capture an order waiting in CAPTUREREQUIRED; ``amount`` in cents."""
        await self.get_settings()
        return await self._run(self._capture_call(order_id, amount, currency, idempotency_key))
