"""The merchant-demo side of the sandbox: a checkout page and the merchant backend endpoint it calls.

Not Flex: ``/demo/checkout`` stands for the merchant's own checkout page and ``/demo/checkout/cards``
for the merchant's backend. The page embeds Flex's SenseJS snippet (pointed at the sandbox's
``/widget.js``), sends the card to ``/v1/tokenize`` from the browser, then posts the token, the sense key
and BIN/last 4/expiry (never the PAN) to the backend endpoint, which writes a ``card_tokens`` row into the
merchant DB and links a subscription to it, so the daily MIT DAG later ships ``senseKey`` and the token.

The merchant DB is a SQLAlchemy URL given with ``flex-sandbox serve --merchant-db-url`` (or
``FLEX_SANDBOX_MERCHANT_DB_URL``); its tables are created on first use when missing. Without one the page
still tokenizes and shows the results, and says that nothing was stored.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from flex_provider.sandbox.checkout_schemas import CheckoutCardRequest, CheckoutCardResponse
from flex_provider.sandbox.problems import problem
from flex_provider.sandbox.sense import WIDGET_PATH, static_text
from flex_provider.sandbox.state import SandboxState
from flex_provider.sandbox.vault import TEST_CARDS

if TYPE_CHECKING:
    from sqlalchemy import Engine

log = logging.getLogger(__name__)

PAGE_PATH = "/demo/checkout"
CARDS_PATH = "/demo/checkout/cards"
#: How long the page waits for the sense key before it tokenizes without one.
SENSE_TIMEOUT_MS = 5000
CARD_HINTS = {"approve": "MIT rescued", "decline": "MIT not rescued", "challenge": "CIT challenge"}
NOT_CONFIGURED = "Not stored: the sandbox runs without --merchant-db-url (FLEX_SANDBOX_MERCHANT_DB_URL)."


class MerchantStore:
    """Writes checkout results into the merchant DB (sample schema of ``flex_provider.merchant.schema``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    def describe(self) -> str:
        """The URL with its password hidden (for logs)."""
        from sqlalchemy.engine import make_url

        return make_url(self.url).render_as_string(hide_password=True)

    def engine(self) -> Engine:
        """The engine; the first call creates the sample tables when missing."""
        with self._lock:
            if self._engine is None:
                from sqlalchemy import create_engine

                from flex_provider.merchant.schema import create_schema

                engine = create_engine(self.url, pool_pre_ping=True)
                create_schema(engine)
                self._engine = engine
            return self._engine

    def save(self, card: CheckoutCardRequest) -> CheckoutCardResponse:
        """Insert the card token and create (or re-point) the subscription that bills it, in one transaction."""
        from sqlalchemy import insert, select, update

        from flex_provider.merchant.schema import card_tokens, subscriptions, ts

        now = ts(datetime.now(timezone.utc))
        with self.engine().begin() as conn:
            existing = None
            if card.subscription_id:
                existing = conn.execute(
                    select(subscriptions.c.subscription_id, subscriptions.c.customer_id).where(
                        subscriptions.c.subscription_id == card.subscription_id)
                ).first()
            customer_id = existing.customer_id if existing else f"cust-demo-{uuid.uuid4().hex[:12]}"
            holder = card.holder_name or " ".join(p for p in (card.first_name, card.last_name) if p) or None
            card_id = conn.execute(insert(card_tokens).values(
                customer_id=customer_id, flex_token=card.token, card_bin=card.card_bin,
                card_last4=card.card_last4, exp_month=card.exp_month, exp_year=card.exp_year,
                card_brand=(card.card_brand or "").upper() or None, card_type=card.card_type,
                holder_name=holder, sense_key=card.sense_key, created_at=now,
            )).inserted_primary_key[0]
            if existing:
                subscription_id = existing.subscription_id
                conn.execute(update(subscriptions).where(subscriptions.c.subscription_id == subscription_id)
                             .values(card_token_id=card_id))
            else:
                subscription_id = card.subscription_id or f"sub-demo-{uuid.uuid4().hex[:12]}"
                conn.execute(insert(subscriptions).values(
                    subscription_id=subscription_id, customer_id=customer_id, email=card.email,
                    first_name=card.first_name, last_name=card.last_name, plan_code=card.plan_code,
                    billing_interval="monthly", price_cents=card.price_cents, currency=card.currency,
                    card_token_id=card_id, status="active", started_at=now,
                ))
        log.info("demo checkout: stored card_tokens.id %s for subscription %s", card_id, subscription_id)
        return CheckoutCardResponse(
            stored=True, card_token_id=int(card_id), subscription_id=subscription_id, customer_id=customer_id,
            message=f"Stored in the merchant DB: card_tokens.id {card_id}, subscription {subscription_id}.",
        )

    def close(self) -> None:
        """Dispose of the engine."""
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None


def _js_string(value: str) -> str:
    """``value`` escaped for a single-quoted JavaScript string inside an HTML ``<script>``."""
    return json.dumps(value)[1:-1].replace("'", "\\u0027").replace("<", "\\u003c")


def render_page(request: Request, state: SandboxState, *, nonce: str, stores: bool) -> str:
    """The checkout HTML with the sandbox's URLs and merchant ids filled in."""
    base = str(request.base_url).rstrip("/")
    m = state.merchant
    config = {
        "mid": m.mid,
        "siteId": m.site_id,
        # Flex's tokenization key is the page-side key for /tokenize; the API secret never reaches a page.
        "tokenizationKey": m.tokenization_key,
        "tokenizeUrl": f"{base}/v1/tokenize",
        "merchantEndpoint": f"{base}{CARDS_PATH}",
        "merchantStores": stores,
        "senseTimeoutMs": SENSE_TIMEOUT_MS,
    }
    values = {
        "{{CONFIG_JSON}}": json.dumps(config).replace("<", "\\u003c"),
        "{{WIDGET_URL}}": _js_string(f"{base}{WIDGET_PATH}"),  # the base URL comes from the Host header
        "{{MID}}": _js_string(m.mid),
        "{{SITE_ID}}": _js_string(m.site_id),
        "{{NONCE}}": nonce,
        "{{TEST_CARDS}}": ", ".join(f"{' '.join(pan[i:i + 4] for i in range(0, len(pan), 4))} "
                                    f"({CARD_HINTS.get(what, what)})" for pan, what in TEST_CARDS.items()),
    }
    html = static_text("checkout.html")
    for placeholder, value in values.items():
        html = html.replace(placeholder, value)
    return html


def router(state: SandboxState, store: MerchantStore | None) -> APIRouter:
    """``GET /demo/checkout`` (the page) and ``POST /demo/checkout/cards`` (the merchant backend)."""
    r = APIRouter(tags=["merchant demo (not Flex)"])

    @r.get(PAGE_PATH, response_class=HTMLResponse)
    def page(request: Request) -> HTMLResponse:
        """The demo checkout page, with a CSP that allows only the sandbox origin and the page's own scripts."""
        nonce = secrets.token_urlsafe(16)
        csp = (f"default-src 'none'; script-src 'self' 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
               "connect-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
        return HTMLResponse(render_page(request, state, nonce=nonce, stores=store is not None), headers={
            "Content-Security-Policy": csp, "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})

    @r.post(CARDS_PATH, response_model=CheckoutCardResponse, response_model_by_alias=True)
    def save_card(request: Request, card: CheckoutCardRequest) -> Any:
        """Store token + sense key + BIN/last 4/expiry in ``card_tokens`` and link a subscription."""
        from sqlalchemy.exc import SQLAlchemyError

        if store is None:
            return CheckoutCardResponse(stored=False, message=NOT_CONFIGURED)
        try:
            return store.save(card)
        except SQLAlchemyError as exc:
            # The class only: a driver message may quote the statement's parameters.
            log.warning("demo checkout: merchant DB write failed (%s)", type(exc).__name__)
            trace = getattr(request.state, "trace_id", None)
            return JSONResponse(problem(503, detail="The merchant DB is not reachable; nothing stored.",
                                        trace_id=trace), status_code=503)

    return r


def mount(app: FastAPI, state: SandboxState, store: MerchantStore | None) -> None:
    """Add the demo checkout routes to the sandbox app."""
    app.include_router(router(state, store))


def info(base_url: str, store: MerchantStore | None) -> dict[str, Any]:
    """The ``sandbox.json`` keys of the demo checkout (never the DB URL: it may hold a password)."""
    return {"checkout_url": f"{base_url}{PAGE_PATH}", "widget_url": f"{base_url}{WIDGET_PATH}",
            "merchant_db_configured": store is not None}
