"""Run the Flex webhook receiver standalone under uvicorn: ``python -m flex_provider.webhooks``.

Keys come from ``--subscriber-key`` (repeatable) or ``FLEX_WEBHOOK_SUBSCRIBER_KEYS`` (comma-separated,
preferred: keeps secrets out of ``ps``); the store from ``--db-url`` / ``FLEX_WEBHOOK_DB_URL`` or
``--db-conn-id``. Without keys and store, settings are read from Airflow exactly as the plugin does.
The app is served under ``--prefix`` (default ``/flex``) so URLs match the api-server: ``/flex/webhooks``.
"""

from __future__ import annotations

import typer

app = typer.Typer(add_completion=False, help="Flex webhook receiver (standalone).")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="bind address"),
    port: int = typer.Option(8090, help="bind port (0 = any free port)"),
    subscriber_key: list[str] = typer.Option(  # noqa: B008
        [], envvar="FLEX_WEBHOOK_SUBSCRIBER_KEYS", help="base64 subscriber key (repeat for rotation)"
    ),
    db_url: str | None = typer.Option(None, envvar="FLEX_WEBHOOK_DB_URL", help="SQLAlchemy URL of the store"),
    db_conn_id: str | None = typer.Option(None, help="Airflow connection id of the store"),
    tolerance_seconds: int = typer.Option(300, help="x-fc-date window, past and future"),
    max_body_bytes: int = typer.Option(64 * 1024, help="largest accepted body"),
    public_host: list[str] = typer.Option([], help="allowed Host header values (repeatable)"),  # noqa: B008
    prefix: str = typer.Option("/flex", help="mount path"),
) -> None:
    """Serve ``POST {prefix}/webhooks`` and ``GET {prefix}/health``."""
    import uvicorn
    from fastapi import FastAPI

    from flex_provider.webhooks.app import WebhookSettings, create_app

    keys = [k.strip() for item in subscriber_key for k in item.split(",") if k.strip()]
    if keys or db_url or db_conn_id:
        settings: object = WebhookSettings(
            subscriber_keys=keys,
            db_url=db_url,
            db_conn_id=db_conn_id,
            tolerance_seconds=tolerance_seconds,
            max_body_bytes=max_body_bytes,
            public_hosts=public_host or None,
        )
    else:
        from flex_provider.webhooks.plugin import settings_from_airflow

        settings = settings_from_airflow
    receiver = create_app(settings)  # type: ignore[arg-type]
    root = receiver
    if prefix and prefix != "/":
        root = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
        root.mount(prefix.rstrip("/"), receiver)
    uvicorn.run(root, host=host, port=port, log_level="info", proxy_headers=False)


if __name__ == "__main__":
    app()
