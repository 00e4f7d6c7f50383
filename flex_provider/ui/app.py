"""
The Flex view as a FastAPI app, mounted by the provider's plugin at ``/flex-ui`` in the api-server.

Routes: ``GET /`` (the HTML page, shown by Airflow's UI in the iframe of the plugin's external view) and
``GET /api/overview`` (the same data as JSON). ``?day=YYYY-MM-DD`` picks the business day.

Airflow mounts plugin apps with no authentication in front, so every route depends on
:func:`airflow_viewer`: it resolves the caller with Airflow's own ``get_user`` (the ``Authorization:
Bearer`` JWT, else the UI's ``_token`` session cookie, both validated by the configured auth manager)
and asks the auth manager whether that user may ``GET`` the custom view ``Flex``. No user, no data.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from flex_provider import FLEX_CONN_ID, LEDGER_CONN_ID, MERCHANT_CONN_ID
from flex_provider.ui.data import FlexViewSources, load_overview
from flex_provider.ui.page import render

#: Resource name the auth manager is asked about (``is_authorized_custom_view``).
VIEW_RESOURCE = "Flex"
#: Nothing from outside the machine, not even from the api-server: styles and the chart are inline.
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; "
       "frame-ancestors 'self'")
ICON_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="#38a169" '
            'stroke-width="2.5"><path d="M3 17l6-6 4 4 8-8"/><path d="M15 7h6v6"/></svg>')
_HEADERS = {"Content-Security-Policy": CSP, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


async def airflow_viewer(request: Request) -> Any:
    """Airflow's user for this request, if the auth manager lets them read the Flex view (else 401/403)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

    credentials = await bearer_scheme(request)
    user = await get_user(request, None, credentials)
    allowed = get_auth_manager().is_authorized_custom_view(method="GET", resource_name=VIEW_RESOURCE, user=user)
    if not allowed:
        raise HTTPException(status_code=403, detail="Forbidden")
    return user


class _CachedSources:
    """Builds the sources once (engines are pooled), retrying on the next request if that failed."""

    def __init__(self, factory: Callable[[], FlexViewSources]) -> None:
        self._factory = factory
        self._sources: FlexViewSources | None = None
        self._lock = threading.Lock()

    def get(self) -> FlexViewSources:
        with self._lock:
            if self._sources is not None:
                return self._sources
            sources = self._factory()
            complete = None not in (sources.merchant_engine, sources.ledger, sources.webhook_store, sources.mid)
            if complete:
                self._sources = sources
            return sources


def create_ui_app(
    sources: FlexViewSources | Callable[[], FlexViewSources],
    *,
    authorize: Callable[..., Any] = airflow_viewer,
) -> FastAPI:
    """Build the view. ``sources`` may be a zero-argument callable, resolved on the first request."""
    cached = _CachedSources(sources if callable(sources) else (lambda: sources))
    app = FastAPI(title="Flex view", docs_url=None, redoc_url=None, openapi_url=None)

    def _overview(day: date | None) -> Any:
        return load_overview(cached.get(), day)

    @app.get("/icon.svg")
    async def icon() -> Response:
        """The nav icon (public, like Airflow's own static files)."""
        return Response(ICON_SVG, media_type="image/svg+xml", headers={"Cache-Control": "max-age=3600"})

    @app.get("/", response_class=HTMLResponse, dependencies=[Depends(authorize)])
    async def page(request: Request, day: date | None = Query(None)) -> HTMLResponse:  # noqa: B008
        view = await run_in_threadpool(_overview, day)
        return HTMLResponse(render(view, base_path=request.url.path), headers=_HEADERS)

    @app.get("/api/overview", dependencies=[Depends(authorize)])
    async def overview(day: date | None = Query(None)) -> JSONResponse:  # noqa: B008
        view = await run_in_threadpool(_overview, day)
        return JSONResponse(view.model_dump(mode="json"), headers=_HEADERS)

    return app


def sources_from_airflow() -> FlexViewSources:
    """The view's sources from Airflow config and connections (each optional).

    ``[flex] merchant_conn_id`` (default ``flex_merchant_db``), ``[flex] ledger_conn_id`` (the webhook
    receiver's setting; default ``flex_ledger_db`` here), ``[flex] webhook_db_url`` (instead of the ledger
    for webhook events), ``[flex] webhook_conn_id`` (default ``flex_default``: its ``mid`` extra).
    """
    from airflow.configuration import conf

    from flex_provider.batch.ledger import FlexLedger
    from flex_provider.webhooks.store import (
        WebhookStore,
        get_airflow_connection,
        make_engine,
        url_from_connection,
    )

    def engine_for(conn_id: str) -> Any:
        try:
            return make_engine(url_from_connection(get_airflow_connection(conn_id)))
        except Exception:  # noqa: BLE001 - a missing connection is shown on the page, not raised
            return None

    merchant = engine_for(conf.get("flex", "merchant_conn_id", fallback=MERCHANT_CONN_ID))
    ledger_engine = engine_for(conf.get("flex", "ledger_conn_id", fallback=LEDGER_CONN_ID) or LEDGER_CONN_ID)
    webhook_url = conf.get("flex", "webhook_db_url", fallback=None) or None
    events_engine = make_engine(webhook_url) if webhook_url else ledger_engine
    mid = None
    try:
        flex = get_airflow_connection(conf.get("flex", "webhook_conn_id", fallback=FLEX_CONN_ID))
        mid = (flex.extra_dejson or {}).get("mid")
    except Exception:  # noqa: BLE001
        mid = None
    return FlexViewSources(
        merchant_engine=merchant,
        ledger=FlexLedger(engine=ledger_engine) if ledger_engine is not None else None,
        webhook_store=WebhookStore(events_engine, create=False) if events_engine is not None else None,
        mid=mid,
    )
