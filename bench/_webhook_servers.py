"""
The two servers of the webhook-ingest bench, each run as ``python bench/_webhook_servers.py KIND ...``:

* ``ours``: the real receiver, ``flex_provider.webhooks.app.create_app(WebhookSettings(...))``, mounted at
  ``/flex`` exactly as ``python -m flex_provider.webhooks serve`` does (HMAC verification, nonce replay
  check, dedupe, order state, one transaction per delivery).
* ``bare``: a bare FastAPI endpoint at the same path doing the same event-row insert into the same
  table, with no verification, no nonce, no dedupe and no order state.

Both run under uvicorn with the same options (one worker, access log off, long keep-alive).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

# Module level on purpose: FastAPI resolves the string annotations of the endpoint against these globals.
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def ours_app(db_url: str, key: str) -> FastAPI:
    from flex_provider.webhooks.app import WebhookSettings, create_app

    receiver = create_app(WebhookSettings(subscriber_keys=[key], db_url=db_url))
    root = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    root.mount("/flex", receiver)
    return root


def bare_app(db_url: str) -> FastAPI:
    from sqlalchemy import create_engine, insert
    from starlette.concurrency import run_in_threadpool

    from flex_provider.webhooks.store import events_table, metadata

    engine = create_engine(db_url, pool_size=40, max_overflow=0)
    metadata.create_all(engine, checkfirst=True)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    def _insert(data: dict, raw: bytes) -> int:
        with engine.begin() as conn:
            return conn.execute(
                insert(events_table)
                .values(
                    dedupe_key=data["OrderId"] + data["TimeStamp"],
                    event=data["Event"],
                    order_id=data.get("OrderId"),
                    external_order_id=data.get("ExternalOrderId"),
                    confirmation_id=data.get("ConfirmationId"),
                    event_ts=datetime.fromisoformat(data["TimeStamp"].replace("Z", "+00:00")),
                    status=None,
                    amount=data.get("Amount"),
                    currency=data.get("Currency"),
                    is_test_mode=bool(data.get("IsTestMode")),
                    is_resent=bool(data.get("IsResent")),
                    payload=raw.decode("utf-8"),
                    nonce=None,
                    received_at=datetime.now(timezone.utc),
                )
                .returning(events_table.c.id)
            ).scalar_one()

    @app.post("/flex/webhooks")
    async def receive(request: Request) -> JSONResponse:
        raw = await request.body()
        data = json.loads(raw)
        event_id = await run_in_threadpool(_insert, data, raw)
        return JSONResponse({"stored": True, "duplicate": False, "event_id": event_id})

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["ours", "bare"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db-url", required=True)
    parser.add_argument("--key", default="")
    args = parser.parse_args()
    import uvicorn

    app = ours_app(args.db_url, args.key) if args.kind == "ours" else bare_app(args.db_url)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_keep_alive=120,  # no keep-alive races when a loaded machine stalls a connection for seconds
    )


if __name__ == "__main__":
    main()
