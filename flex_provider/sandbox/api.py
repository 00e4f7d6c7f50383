"""The sandbox's HTTP app: Flex's REST API under ``/v1`` (the admin API of ``sandbox/admin.py`` under ``/_sandbox``).

``create_app(state)`` builds a FastAPI app around a :class:`~flex_provider.sandbox.state.SandboxState`.
Routes read raw JSON and hand it to the state, which validates with its own models and answers
``(status, body)`` exactly as Flex would (ASP.NET problem details for invalid bodies). A middleware adds a
``traceId`` header, counts requests per route template, applies the fault knobs (``sandbox/faults.py``) and logs one line per
request (method, path without query, status, time: never bodies, tokens or secrets).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.routing import Match

from flex_provider.sandbox import schemas
from flex_provider.sandbox.admin import admin_router
from flex_provider.sandbox.faults import Faults
from flex_provider.sandbox.problems import new_trace_id, problem
from flex_provider.sandbox.state import SandboxState

log = logging.getLogger("flex_provider.sandbox.api")

API_PREFIX = "/v1"
ADMIN_PREFIX = "/_sandbox"
TRACE_HEADER = "traceId"


class _Unauthorized(Exception):
    """A /v1 request without a valid bearer token (answered 401 by its exception handler)."""


def _reply(request: Request, status: int, body: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    """JSON response whose problem-details ``traceId`` equals the ``traceId`` header."""
    trace = getattr(request.state, "trace_id", None)
    if isinstance(body, dict) and "traceId" in body and trace:
        body = {**body, "traceId": trace}
    return JSONResponse(body, status_code=status, headers=headers)


async def _json_body(request: Request, *, required: bool = True) -> tuple[Any, JSONResponse | None]:
    raw = await request.body()
    if not raw.strip():
        if required:
            return None, _reply(request, 400, problem(400, {"$": ["A non-empty request body is required."]}))
        return {}, None
    try:
        return json.loads(raw), None
    except ValueError:
        return None, _reply(request, 400, problem(400, {"$": ["The JSON value could not be parsed."]}))


def _template(app: FastAPI, scope: dict[str, Any]) -> str:
    for route in app.router.routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return getattr(route, "path", scope["path"])
    return scope["path"]


def _body_doc(model: type[BaseModel], *, required: bool = True) -> dict[str, Any]:
    return {"requestBody": {"required": required, "content": {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}}


def create_app(
    state: SandboxState,
    *,
    faults: Faults | None = None,
    routers: Sequence[tuple[str, APIRouter]] = (),
) -> FastAPI:
    """The sandbox app: ``/v1`` (Flex), ``/_sandbox`` (admin), plus extra admin ``routers`` by prefix."""
    app = FastAPI(
        title="Flex sandbox",
        version="1",
        description="Local emulator of Flex (FlexFactor) API v1 for tests; see docs/sandbox.md.",
    )
    faults = faults or Faults(state.seed)
    requests: Counter[str] = Counter()
    app.state.sandbox = state
    app.state.faults = faults
    app.state.requests = requests

    @app.middleware("http")
    async def _middleware(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        trace = new_trace_id()
        request.state.trace_id = trace
        started = time.perf_counter()
        path = request.url.path
        response: Response
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            route = f"{request.method} {_template(app, request.scope)}"
            requests[route] += 1
            fault = faults.before()
            if faults.latency_ms:
                await asyncio.sleep(faults.latency_ms / 1000)
            if fault is not None:
                status, headers = fault
                response = _reply(request, status, problem(status, detail="Injected by the sandbox."),
                                  headers)
            else:
                response = await call_next(request)
                # Only an answer of a request that was carried out is lost (a 401 or 400 changed nothing).
                if response.status_code < 400 and faults.take_drop(route):
                    # Run the handler's body to the end (the change is committed), then lose its answer.
                    async for _ in response.body_iterator:  # type: ignore[attr-defined]
                        pass
                    response = _reply(request, 503, problem(
                        503, detail="Injected by the sandbox after the request was processed."))
        else:
            response = await call_next(request)
        response.headers[TRACE_HEADER] = trace
        log.info("%s %s -> %d (%.1f ms)", request.method, path, response.status_code,
                 (time.perf_counter() - started) * 1000)
        return response

    @app.exception_handler(_Unauthorized)
    async def _unauthorized(request: Request, exc: _Unauthorized) -> JSONResponse:
        return _reply(request, 401, problem(401, detail=str(exc) or "Missing or invalid bearer token."),
                      {"WWW-Authenticate": "Bearer"})

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors: dict[str, list[str]] = {}
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ())[1:]]
            key = ".".join(p[:1].upper() + p[1:] for p in loc) or "$"
            errors.setdefault(key, []).append(str(err.get("msg")))
        return _reply(request, 400, problem(400, errors))

    def mid_of(request: Request) -> str:
        mid = state.mid_for_token(request.headers.get("authorization", ""))
        if mid is None:
            raise _Unauthorized("Missing, unknown or expired bearer token.")
        return mid

    v1 = APIRouter(prefix=API_PREFIX, tags=["Flex API v1"])

    @v1.post("/oauth2/token", openapi_extra=_body_doc(schemas.TokenRequest))
    async def token(request: Request) -> JSONResponse:
        """AppKey/AppSecret (keys case-insensitive) -> bearer token; wrong credentials -> 400."""
        body, err = await _json_body(request)
        if err:
            return err
        return _reply(request, *state.issue_token(body))

    @v1.post("/tokenize", openapi_extra=_body_doc(schemas.TokenizeRequest))
    async def tokenize(request: Request, mid: str | None = None, environment: str | None = None) -> JSONResponse:
        """Vault a card: ``?mid=&environment=<tokenization key>``, or a bearer token."""
        merchant = state.merchant
        if environment is not None:
            if environment != merchant.tokenization_key or (mid or "").lower() != merchant.mid.lower():
                raise _Unauthorized("Unknown mid or tokenization key.")
            owner = merchant.mid
        else:
            owner = mid_of(request)
        body, err = await _json_body(request)
        if err:
            return err
        return _reply(request, *state.tokenize(owner, body))

    @v1.post("/evaluate", openapi_extra=_body_doc(schemas.EvaluateRequest))
    async def evaluate(request: Request) -> JSONResponse:
        """Submit a declined transaction (MIT answers SUBMITTED and opens a Processing order)."""
        owner = mid_of(request)
        body, err = await _json_body(request)
        if err:
            return err
        return _reply(request, *state.evaluate(owner, body, source="api"))

    @v1.post("/transmit", openapi_extra=_body_doc(schemas.TransmitRequest))
    async def transmit(request: Request) -> JSONResponse:
        """Copy of a processed transaction; answers a ``transmitId``."""
        owner = mid_of(request)
        body, err = await _json_body(request)
        if err:
            return err
        return _reply(request, *state.transmit(owner, body, source="api"))

    @v1.get("/orders")
    async def list_orders(request: Request) -> JSONResponse:
        """Paged orders: ``status`` (int list), ``from``, ``to``, ``mid``, ``query``, ``orderBy``, ``sort``,
        ``pageSize`` (default 10, max 100), ``pageNumber`` (from 1)."""
        owner = mid_of(request)
        return _reply(request, *state.list_orders(owner, request.query_params.multi_items()))

    @v1.get("/orders/{id}")
    async def get_order(request: Request, id: str) -> JSONResponse:
        """One order by Flex id (orderSessionKey)."""
        return _reply(request, *state.get_order(mid_of(request), id))

    @v1.post("/orders/{id}/refund", openapi_extra=_body_doc(schemas.RefundRequest))
    async def refund(request: Request, id: str) -> JSONResponse:
        """Refund ``amountToRefund`` dollars (see docs/sandbox.md for the limits)."""
        owner = mid_of(request)
        body, err = await _json_body(request)
        if err:
            return err
        return _reply(request, *state.refund(owner, id, body))

    @v1.post("/orders/{id}/cancel", openapi_extra=_body_doc(schemas.CancelRequest, required=False))
    async def cancel(request: Request, id: str) -> JSONResponse:
        """Cancel a Draft/Processing/Capturerequired order; answers ``{}``."""
        owner = mid_of(request)
        body, err = await _json_body(request, required=False)
        if err:
            return err
        return _reply(request, *state.cancel(owner, id, body))

    @v1.post("/orders/{externalOrderId}/external-cancel",
             openapi_extra=_body_doc(schemas.CancelRequest, required=False))
    async def external_cancel(request: Request, externalOrderId: str) -> JSONResponse:
        """Cancel by the merchant's own order id."""
        owner = mid_of(request)
        body, err = await _json_body(request, required=False)
        if err:
            return err
        return _reply(request, *state.external_cancel(owner, externalOrderId, body))

    @v1.post("/capture", openapi_extra=_body_doc(schemas.CaptureRequest))
    async def capture(request: Request) -> JSONResponse:
        """Capture a Capturerequired order (CIT ``transactionType: AUTHORIZATION``)."""
        owner = mid_of(request)
        body, err = await _json_body(request)
        if err:
            return err
        return _reply(request, *state.capture(owner, body))

    @v1.post("/outcome", deprecated=True)
    async def outcome(request: Request) -> JSONResponse:
        """Deprecated status lookup by ``orderSessionKey``."""
        owner = mid_of(request)
        body, err = await _json_body(request)
        if err:
            return err
        key = next((v for k, v in body.items() if k.lower() == "ordersessionkey"), None) if isinstance(body, dict) else None
        if not key:
            return _reply(request, 400, problem(400, {"OrderSessionKey": ["The OrderSessionKey field is required."]}))
        status, order = state.get_order(owner, str(key))
        name = "NOTFOUND"
        if status == 200:
            name = {0: "SUBMITTED", 2: "CANCELLED", 4: "PROCESSING", 5: "SUBMITTED", 6: "APPROVED", 7: "APPROVED",
                    8: "EXPIRED"}.get(order["status"], "PROCESSING")
        return _reply(request, 200, {"orderSessionKey": key, "confirmationId": order.get("confirmationId"),
                                     "success": True, "result": "Success", "status": name, "statusCode": None,
                                     "errors": [], "customProperties": {}})

    app.include_router(v1)
    app.include_router(admin_router(state, faults, requests), prefix=ADMIN_PREFIX, tags=["sandbox admin"])
    for prefix, router in routers:
        app.include_router(router, prefix=prefix, tags=["sandbox admin"])

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = doc.setdefault("components", {}).setdefault("schemas", {})
        for model in (schemas.TokenRequest, schemas.TokenizeRequest, schemas.EvaluateRequest,
                      schemas.TransmitRequest, schemas.RefundRequest, schemas.CancelRequest,
                      schemas.CaptureRequest):
            schema = model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
            components.update(schema.pop("$defs", {}))
            components[model.__name__] = schema
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
    return app
