"""The Flex webhook receiver as a FastAPI app: ``create_app(settings)``.

Routes (relative to where the app is mounted; the Airflow plugin mounts it at ``/flex``):

* ``POST /webhooks``: one Flex delivery. Order of checks: size (413), content type (415), Host allow-list,
  signature + date window (401), JSON shape (400), then one DB transaction (nonce replay 401, dedupe,
  order state). 2xx only after commit; 503 when the store is unavailable so Flex retries.
* ``GET /health``: 200 when configured and the database answers, else 503.

Every rejection stores nothing and answers JSON ``{"error": ..., "reason": ..., "detail": ...}``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from starlette.concurrency import run_in_threadpool

from flex_provider.models.webhooks import FlexWebhookEvent
from flex_provider.webhooks.signature import (
    DEFAULT_TOLERANCE_SECONDS,
    SignatureError,
    decode_key,
    verify_request,
)
from flex_provider.webhooks.store import NonceReplayError, WebhookStore

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 64 * 1024
_ACCEPTED_TYPES = ("text/plain", "application/json")
_RETRY_BUILD_AFTER_S = 5.0
_BACKGROUND: set[asyncio.Task[None]] = set()


class AirflowAssetNotify(BaseModel):
    """Optional: after storing, create an Airflow asset event through the REST API (best effort).

    The ``AssetWatcher`` with :class:`~flex_provider.triggers.webhook_events.FlexWebhookEventTrigger` is
    the primary path; this only shortens the delay when no triggerer polls.
    """

    api_url: str = Field(description="Airflow api-server base URL, e.g. http://127.0.0.1:8080")
    asset_id: int | None = None
    asset_name: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = None
    timeout_seconds: float = 5.0

    @model_validator(mode="after")
    def _one_asset(self) -> AirflowAssetNotify:
        if self.asset_id is None and not self.asset_name:
            raise ValueError("asset_id or asset_name is required")
        if self.token is None and not (self.username and self.password):
            raise ValueError("token or username+password is required")
        return self


class WebhookSettings(BaseModel):
    """Receiver configuration. Give exactly one of ``db_url`` (SQLAlchemy URL) or ``db_conn_id``."""

    subscriber_keys: list[SecretStr] = Field(
        min_length=1, description="base64 keys; any may match (rotation)"
    )
    db_url: SecretStr | None = None
    db_conn_id: str | None = None
    tolerance_seconds: int = Field(default=DEFAULT_TOLERANCE_SECONDS, ge=1)
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=256)
    public_hosts: list[str] | None = Field(
        default=None, description="if set, the Host header must be one of these (case-insensitive)"
    )
    asset_notify: AirflowAssetNotify | None = None

    @field_validator("subscriber_keys")
    @classmethod
    def _valid_keys(cls, keys: list[SecretStr]) -> list[SecretStr]:
        for key in keys:
            decode_key(key.get_secret_value())
        return keys

    @model_validator(mode="after")
    def _one_db(self) -> WebhookSettings:
        if (self.db_url is None) == (self.db_conn_id is None):
            raise ValueError("give exactly one of db_url or db_conn_id")
        return self


class _AssetNotifier:
    """Coalescing, best-effort poster of Airflow asset events (one in flight, bursts folded into one)."""

    def __init__(self, cfg: AirflowAssetNotify) -> None:
        self.cfg = cfg
        self._token: str | None = cfg.token.get_secret_value() if cfg.token else None
        self._asset_id = cfg.asset_id
        self._dirty = False
        self._task: asyncio.Task[None] | None = None
        self._last_event_id: int | None = None

    def poke(self, event_id: int | None) -> None:
        self._last_event_id = event_id
        self._dirty = True
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        import httpx

        async with httpx.AsyncClient(base_url=self.cfg.api_url, timeout=self.cfg.timeout_seconds) as client:
            while self._dirty:
                self._dirty = False
                try:
                    await self._post(client)
                except Exception:
                    log.warning("flex webhooks: could not create the Airflow asset event", exc_info=True)
                    return

    async def _auth(self, client: Any, force: bool = False) -> str:
        if self._token and not (force and self.cfg.username):
            return self._token
        resp = await client.post(
            "/auth/token",
            json={"username": self.cfg.username, "password": self.cfg.password.get_secret_value()},  # type: ignore[union-attr]
        )
        resp.raise_for_status()
        self._token = resp.json()["access_token"]
        return self._token

    async def _post(self, client: Any) -> None:
        for attempt in range(2):
            headers = {"Authorization": f"Bearer {await self._auth(client, force=attempt > 0)}"}
            if self._asset_id is None:
                resp = await client.get(
                    "/api/v2/assets", params={"name_pattern": self.cfg.asset_name}, headers=headers
                )
                if resp.status_code == 401 and attempt == 0:
                    continue
                resp.raise_for_status()
                ids = [a["id"] for a in resp.json().get("assets", []) if a.get("name") == self.cfg.asset_name]
                if not ids:
                    raise LookupError(f"asset {self.cfg.asset_name!r} not found in Airflow")
                self._asset_id = ids[0]
            resp = await client.post(
                "/api/v2/assets/events",
                json={
                    "asset_id": self._asset_id,
                    "extra": {"source": "flex-webhook", "last_event_id": self._last_event_id},
                },
                headers=headers,
            )
            if resp.status_code == 401 and attempt == 0:
                continue
            resp.raise_for_status()
            return


class _Runtime:
    def __init__(self, settings: WebhookSettings) -> None:
        self.settings = settings
        self.keys = [decode_key(k.get_secret_value()) for k in settings.subscriber_keys]
        if settings.db_url is not None:
            self.store = WebhookStore.from_url(settings.db_url.get_secret_value())
        else:
            assert settings.db_conn_id is not None
            self.store = WebhookStore.from_conn_id(settings.db_conn_id)
        self.notifier = _AssetNotifier(settings.asset_notify) if settings.asset_notify else None
        self.hosts = {h.lower() for h in settings.public_hosts} if settings.public_hosts else None
        self.last_prune = 0.0


class _LazyRuntime:
    """Builds the runtime on first use; if that fails (no connection, DB down) answers 503 and retries."""

    def __init__(self, source: WebhookSettings | Callable[[], WebhookSettings]) -> None:
        self._source = source
        self._runtime: _Runtime | None = None
        self._error: str | None = None
        self._failed_at = 0.0
        self._lock = threading.Lock()

    def get(self) -> _Runtime:
        if self._runtime is not None:
            return self._runtime
        with self._lock:
            if self._runtime is not None:
                return self._runtime
            if self._error and time.monotonic() - self._failed_at < _RETRY_BUILD_AFTER_S:
                raise RuntimeError(self._error)
            try:
                settings = self._source() if callable(self._source) else self._source
                self._runtime = _Runtime(settings)
                self._error = None
            except Exception as exc:
                self._error = f"{type(exc).__name__}: {exc}"
                self._failed_at = time.monotonic()
                log.error("flex webhooks: receiver not configured: %s", self._error)
                raise RuntimeError(self._error) from exc
            return self._runtime

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.store.dispose()


def _reject(status: int, error: str, reason: str, detail: str, **headers: str) -> JSONResponse:
    return JSONResponse(
        {"error": error, "reason": reason, "detail": detail}, status_code=status, headers=headers
    )


def _is_db_error(exc: BaseException) -> bool:
    from sqlalchemy.exc import SQLAlchemyError

    return isinstance(exc, SQLAlchemyError | OSError)


def create_app(settings: WebhookSettings | Callable[[], WebhookSettings]) -> FastAPI:
    """Build the receiver. ``settings`` may be a zero-argument callable, resolved on the first request."""
    lazy = _LazyRuntime(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        lazy.close()  # only runs standalone: Starlette does not run lifespans of mounted sub-apps

    app = FastAPI(
        lifespan=lifespan,
        title="Flex webhooks",
        description="Receiver for Flex (FlexFactor) webhooks: HMAC-SHA512 verified, deduplicated, durable.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.flex_runtime = lazy

    async def _runtime_or_503() -> _Runtime | JSONResponse:
        try:
            return await run_in_threadpool(lazy.get)
        except RuntimeError as exc:
            return _reject(503, "unavailable", "not_configured", str(exc), **{"Retry-After": "5"})

    @app.get("/health")
    async def health() -> JSONResponse:
        rt = await _runtime_or_503()
        if isinstance(rt, JSONResponse):
            return rt
        try:
            await run_in_threadpool(rt.store.ping)
        except Exception as exc:
            log.warning("flex webhooks: health check failed", exc_info=True)
            return _reject(503, "unavailable", "store_unavailable", type(exc).__name__)
        return JSONResponse({"status": "ok", "dialect": rt.store.dialect})

    @app.post("/webhooks")
    async def receive(request: Request) -> JSONResponse:
        rt = await _runtime_or_503()
        if isinstance(rt, JSONResponse):
            return rt
        limit = rt.settings.max_body_bytes

        declared = request.headers.get("content-length")
        if declared is not None:
            try:
                if int(declared) > limit:
                    return _reject(413, "payload_too_large", "content_length", f"body over {limit} bytes")
            except ValueError:
                return _reject(400, "bad_request", "content_length", "invalid Content-Length")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                return _reject(413, "payload_too_large", "body_size", f"body over {limit} bytes")
        raw = bytes(body)

        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype and ctype not in _ACCEPTED_TYPES and not ctype.endswith("+json"):
            return _reject(
                415, "unsupported_media_type", "content_type", "send text/plain or application/json"
            )

        host = request.headers.get("host", "")
        if rt.hosts is not None and host.lower() not in rt.hosts:
            log.warning("flex webhooks: rejected Host %r", host)
            return _reject(401, "unauthorized", "host_not_allowed", "Host is not an allowed public host")
        try:
            verified = verify_request(
                request.headers, raw, rt.keys, host, tolerance_seconds=rt.settings.tolerance_seconds
            )
        except SignatureError as exc:
            log.warning("flex webhooks: rejected delivery from %s: %s", _client(request), exc.reason)
            return _reject(401, "unauthorized", exc.reason, exc.message)

        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, ValueError):
            return _reject(400, "bad_request", "invalid_json", "body is not valid JSON")
        if not isinstance(data, dict):
            return _reject(400, "bad_request", "unknown_shape", "body must be a JSON object")
        try:
            event = FlexWebhookEvent.model_validate(data)
        except ValidationError as exc:
            fields = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})
            return _reject(400, "bad_request", "unknown_shape", f"invalid or missing: {', '.join(fields)}")

        try:
            result = await run_in_threadpool(rt.store.ingest, event, raw, nonce=verified.nonce)
        except NonceReplayError:
            return _reject(401, "unauthorized", "replayed_nonce", "nonce already used inside the window")
        except Exception as exc:
            if not _is_db_error(exc):
                raise
            log.error("flex webhooks: store unavailable: %s", type(exc).__name__)
            return _reject(
                503,
                "unavailable",
                "store_unavailable",
                "event store unavailable, retry",
                **{"Retry-After": "5"},
            )

        if result.stored and rt.notifier is not None:
            rt.notifier.poke(result.event_id)
        _maybe_prune(rt)
        return JSONResponse(
            {"stored": result.stored, "duplicate": result.duplicate, "event_id": result.event_id}
        )

    return app


def _client(request: Request) -> str:
    return f"{request.client.host}:{request.client.port}" if request.client else "?"


def _maybe_prune(rt: _Runtime) -> None:
    now = time.monotonic()
    if now - rt.last_prune < 60:
        return
    rt.last_prune = now
    cutoff = datetime.now(timezone.utc) - rt.store.nonce_retention(rt.settings.tolerance_seconds)

    async def _prune() -> None:
        try:
            await run_in_threadpool(rt.store.prune_nonces, cutoff)
        except Exception:
            log.debug("flex webhooks: nonce prune failed", exc_info=True)

    task = asyncio.get_running_loop().create_task(_prune())
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)
