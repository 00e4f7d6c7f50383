"""The sandbox's SenseJS side (Flex emulation): ``/widget.js``, the signal collection endpoint, sense sessions.

Flex documents the embed snippet (a ``window.fc`` queueing stub that loads ``widget.js`` and calls
``fc('init', MID, siteId)``) and that the resulting ``senseKey`` travels with ``/tokenize`` and
``/evaluate``. What the widget sends, where, and what a key looks like are not documented: the sandbox's
choices are marked "(ours)" in docs/checkout.md. The widget collects timezone, screen, user agent,
language and page-load timing, POSTs them to ``/sense/collect`` once per page, and exposes the key it gets
back to the page. It never reads form fields, so no card data, token or order data can reach it.

Sessions live in ``DIR/sense.sqlite3`` (own file, like the webhook outbox). Admin views:
``GET /_sandbox/sense`` and ``GET /_sandbox/sense/{senseKey}``.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from flex_provider.sandbox.cards import holds_card_number
from flex_provider.sandbox.clock import SandboxClock
from flex_provider.sandbox.problems import problem
from flex_provider.sandbox.schemas import parse
from flex_provider.sandbox.sense_schemas import SenseCollectRequest, SenseCollectResponse
from flex_provider.sandbox.state import SandboxState

WIDGET_PATH = "/widget.js"
COLLECT_PATH = "/sense/collect"
JS_MEDIA_TYPE = "text/javascript; charset=utf-8"
MAX_PAYLOAD_BYTES = 16 * 1024
#: CORS for the collect endpoint: a merchant page on another origin posts to it (no cookies, so ``*``).
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "600",
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sense_sessions (
    sense_key TEXT PRIMARY KEY, mid TEXT NOT NULL, site_id TEXT, fingerprint TEXT NOT NULL,
    signals TEXT NOT NULL, created_at REAL NOT NULL);
"""


@cache
def static_text(name: str) -> str:
    """A file of ``flex_provider/sandbox/static`` (package data, shipped in the wheel)."""
    return (resources.files("flex_provider.sandbox") / "static" / name).read_text(encoding="utf-8")


def fingerprint(signals: SenseCollectRequest) -> str:
    """Device fingerprint (ours): SHA-256 of user agent, screen, timezone and language, 32 hex chars."""
    s = signals.screen
    basis = [signals.user_agent, s.width, s.height, s.color_depth, s.pixel_ratio, signals.timezone,
             signals.language]
    return hashlib.sha256(json.dumps(basis, separators=(",", ":")).encode()).hexdigest()[:32]


class SenseStore:
    """Sense sessions (key -> signals) in their own SQLite file, stamped with the sandbox clock."""

    def __init__(self, db_path: Path | str, clock: SandboxClock) -> None:
        self.db_path = Path(db_path)
        self.clock = clock
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.db_path, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(_SCHEMA)
        self._conn.commit()

    def record(self, signals: SenseCollectRequest, mid: str) -> str:
        """Store one page's signals under a new sense key (a GUID: ours) and return the key."""
        key = str(uuid.uuid4())
        body = signals.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"mid", "site_id"})
        with self._lock:
            self._conn.execute(
                "INSERT INTO sense_sessions (sense_key, mid, site_id, fingerprint, signals, created_at) "
                "VALUES (?,?,?,?,?,?)",
                (key, mid, signals.site_id, fingerprint(signals), json.dumps(body), self.clock.timestamp()),
            )
            self._conn.commit()
        return key

    @staticmethod
    def _view(row: sqlite3.Row) -> dict[str, Any]:
        created = datetime.fromtimestamp(row["created_at"], tz=timezone.utc)
        return {"senseKey": row["sense_key"], "mid": row["mid"], "siteId": row["site_id"],
                "fingerprint": row["fingerprint"], "signals": json.loads(row["signals"]),
                "createdAt": created.isoformat().replace("+00:00", "Z")}

    def get(self, key: str) -> dict[str, Any] | None:
        """One session, or None."""
        with self._lock:
            row = self._conn.execute("SELECT * FROM sense_sessions WHERE sense_key=?", (key,)).fetchone()
        return self._view(row) if row is not None else None

    def all(self) -> list[dict[str, Any]]:
        """Every session, oldest first."""
        with self._lock:
            rows = self._conn.execute("SELECT * FROM sense_sessions ORDER BY created_at, rowid").fetchall()
        return [self._view(r) for r in rows]

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._conn.close()


def _strings(value: Any) -> Iterator[str]:
    """Every string inside a parsed JSON value (keys included)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _problem(request: Request, errors: dict[str, list[str]]) -> JSONResponse:
    trace = getattr(request.state, "trace_id", None)
    return JSONResponse(problem(400, errors, trace_id=trace), status_code=400, headers=CORS_HEADERS)


def router(state: SandboxState, store: SenseStore) -> APIRouter:
    """Public routes: ``GET /widget.js``, ``POST /sense/collect`` (+ CORS preflight)."""
    r = APIRouter(tags=["SenseJS (Flex emulation)"])

    @r.get(WIDGET_PATH, response_class=Response)
    def widget() -> Response:
        """The SenseJS-compatible widget (replaces the ``fc`` stub of Flex's snippet)."""
        return Response(static_text("widget.js"), media_type=JS_MEDIA_TYPE,
                        headers={"Cache-Control": "no-cache"})

    @r.options(COLLECT_PATH)
    def collect_preflight() -> Response:
        """CORS preflight: merchant pages live on their own origin."""
        return Response(status_code=204, headers=CORS_HEADERS)

    @r.post(COLLECT_PATH, openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/SenseCollectRequest"}}}}})
    async def collect(request: Request) -> JSONResponse:
        """Store one page's signals; answers ``{"senseKey"}``. Invalid payloads get 400 problem details."""
        raw = await request.body()
        if len(raw) > MAX_PAYLOAD_BYTES:
            return _problem(request, {"$": [f"The payload exceeds {MAX_PAYLOAD_BYTES} bytes."]})
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError:
            return _problem(request, {"$": ["The JSON value could not be parsed."]})
        if body is None:
            return _problem(request, {"$": ["A non-empty request body is required."]})
        if any(holds_card_number(text) for text in _strings(body)):
            # Never stored, never echoed: SenseJS must not send card data.
            return _problem(request, {"$": ["The payload looks like it carries a card number."]})
        req, errors = parse(SenseCollectRequest, body)
        if errors:
            return _problem(request, errors)
        assert isinstance(req, SenseCollectRequest)
        if req.mid.strip().lower() != state.merchant.mid.lower():
            return _problem(request, {"Mid": ["Unknown MID."]})
        if req.site_id and req.site_id.strip().lower() != state.merchant.site_id.lower():
            return _problem(request, {"SiteId": ["Unknown site for this MID."]})
        key = store.record(req, state.merchant.mid)
        answer = SenseCollectResponse(sense_key=key).model_dump(by_alias=True)
        return JSONResponse(answer, headers=CORS_HEADERS)

    return r


def admin_router(store: SenseStore) -> APIRouter:
    """Admin routes under ``/_sandbox/sense``: the recorded sessions."""
    r = APIRouter()

    @r.get("")
    def sessions() -> list[dict[str, Any]]:
        """Every sense session, oldest first."""
        return store.all()

    @r.get("/{sense_key}")
    def session(sense_key: str) -> JSONResponse:
        """One sense session with its signals and fingerprint; 404 if unknown."""
        found = store.get(sense_key)
        if found is None:
            return JSONResponse(problem(404, detail="Unknown sense key."), status_code=404)
        return JSONResponse(found)

    return r


def mount(app: FastAPI, state: SandboxState, store: SenseStore) -> None:
    """Add the SenseJS routes and their admin view to the sandbox app (and the payload to its OpenAPI doc)."""
    app.include_router(router(state, store))
    app.include_router(admin_router(store), prefix="/_sandbox/sense", tags=["sandbox admin"])
    build = app.openapi

    def openapi() -> dict[str, Any]:
        doc = build()
        components = doc.setdefault("components", {}).setdefault("schemas", {})
        if "SenseCollectRequest" not in components:
            schema = SenseCollectRequest.model_json_schema(
                by_alias=True, ref_template="#/components/schemas/{model}")
            components.update(schema.pop("$defs", {}))
            components["SenseCollectRequest"] = schema
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
