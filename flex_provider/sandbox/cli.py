"""``flex-sandbox serve``: run the Flex sandbox (API, SFTP, batches, webhooks) in one asyncio loop.

Writes ``DIR/sandbox.json`` (see docs/CONTRACTS.md) once everything listens and removes it on a clean
shutdown (SIGTERM/SIGINT).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

log = logging.getLogger("flex_provider.sandbox")

app = typer.Typer(add_completion=False, help="Local Flex sandbox for tests and demos.")

SFTP_USER = "merchant"


@app.callback()
def main() -> None:
    """Local Flex sandbox: emulates Flex's REST API v1, its SFTP batch exchange and webhooks."""


def ensure_keypair(path: Path) -> str:
    """Create an ed25519 key at ``path`` (and ``path.pub``) unless present; return ``"ssh-ed25519 AAAA..."``."""
    import asyncssh

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        key = asyncssh.read_private_key(str(path))
    else:
        key = asyncssh.generate_private_key("ssh-ed25519")
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(key.export_private_key())
        tmp.chmod(0o600)
        os.replace(tmp, path)
    pub = Path(str(path) + ".pub")
    if not pub.exists():
        pub.write_bytes(key.export_public_key())
    return " ".join(key.export_public_key().decode().split()[:2])


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def _prepare_dir(data_dir: Path) -> tuple[Path, str]:
    """Create the data dir, drop a stale sandbox.json, make keys and the SFTP home; returns the host key."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    _remove(data_dir / "sandbox.json")
    host_key_line = ensure_keypair(data_dir / "keys" / "host_ed25519")
    ensure_keypair(data_dir / "keys" / "client_ed25519")
    (data_dir / "sftp" / SFTP_USER).mkdir(parents=True, exist_ok=True)
    return data_dir, host_key_line


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _make_server(config: Any) -> Any:
    import uvicorn

    class _Server(uvicorn.Server):
        """uvicorn server that leaves signal handling to the sandbox's loop."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return _Server(config)


async def _settle_loop(state: Any, interval: float) -> None:
    while True:
        try:
            state.settle_due()
        except Exception:
            log.exception("settle loop error")
        await asyncio.sleep(interval)


async def serve_async(
    data_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    sftp_port: int = 0,
    seed: int = 0,
    clock_speed: float | None = None,
    token_ttl: float = 600.0,
    approve_rate: float = 0.35,
    strict_idempotency: bool = False,
    webhook_url: str | None = None,
    merchant_db_url: str | None = None,
    batch_poll_interval: float = 0.2,
    stop: asyncio.Event | None = None,
) -> None:
    """Run everything until ``stop`` is set (or SIGTERM/SIGINT when run from the CLI).

    ``merchant_db_url`` (SQLAlchemy URL) is where the demo checkout page stores card tokens and sense keys.
    ``strict_idempotency``: only idempotency keys dedupe (``SandboxState.strict_idempotency``).
    """
    import uvicorn

    from flex_provider.sandbox import checkout, sense
    from flex_provider.sandbox.api import create_app
    from flex_provider.sandbox.faults import Faults
    from flex_provider.sandbox.state import SandboxState

    data_dir, host_key_line = _prepare_dir(data_dir)
    info_path = data_dir / "sandbox.json"
    host_key_path, client_key_path = data_dir / "keys" / "host_ed25519", data_dir / "keys" / "client_ed25519"
    sftp_root = data_dir / "sftp"
    stop = stop or asyncio.Event()
    state = SandboxState(data_dir, seed=seed, clock_speed=clock_speed, token_ttl=token_ttl,
                         approve_rate=approve_rate, strict_idempotency=strict_idempotency)
    merchant = state.merchant

    routers: list[tuple[str, Any]] = []
    tasks: list[asyncio.Task[Any]] = []
    closers: list[Any] = []
    acceptor = None
    actual_sftp_port: int | None = None

    try:
        from flex_provider.sandbox import sftp_server
    except ImportError as exc:
        sftp_server = None  # type: ignore[assignment]
        log.warning("SFTP server disabled: flex_provider.sandbox.sftp_server not importable (%s)", exc)
    if sftp_server is not None:
        acceptor = await sftp_server.start_sftp_server(
            state, sftp_root, host=host, port=sftp_port, host_key_path=host_key_path,
            authorized_keys={SFTP_USER: Path(str(client_key_path) + ".pub")},
        )
        actual_sftp_port = acceptor.get_port()

    try:
        from flex_provider.sandbox import batches
    except ImportError as exc:
        batches = None  # type: ignore[assignment]
        log.warning("batch processing disabled: flex_provider.sandbox.batches not importable (%s)", exc)
    if batches is not None:
        processor = batches.BatchProcessor(state, sftp_root, accounts={SFTP_USER: merchant.mid})
        closers.append(processor)
        tasks.append(asyncio.create_task(processor.run(batch_poll_interval), name="batches"))
        from flex_provider.sandbox.batch_admin import admin_router

        routers.append(("/_sandbox/sftp", admin_router(processor)))

    try:
        from flex_provider.sandbox import webhooks
    except ImportError as exc:
        webhooks = None  # type: ignore[assignment]
        log.warning("webhook sending disabled: flex_provider.sandbox.webhooks not importable (%s)", exc)
    if webhooks is not None:
        sender = webhooks.WebhookSender(state, merchant.webhook_subscriber_key, url=webhook_url,
                                        db_path=data_dir / "webhooks.sqlite3", seed=seed)
        closers.append(sender)
        tasks.append(asyncio.create_task(sender.run(), name="webhooks"))
        from flex_provider.sandbox.webhook_admin import admin_router as webhook_admin_router

        routers.append(("/_sandbox/webhooks", webhook_admin_router(sender)))

    app_ = create_app(state, faults=Faults(seed), routers=routers)
    sense_store = sense.SenseStore(data_dir / "sense.sqlite3", state.clock)
    closers.append(sense_store)
    sense.mount(app_, state, sense_store)
    merchant_db = checkout.MerchantStore(merchant_db_url) if merchant_db_url else None
    if merchant_db is not None:
        closers.append(merchant_db)
        log.info("demo checkout stores into the merchant DB %s", merchant_db.describe())
    checkout.mount(app_, state, merchant_db)
    sock = _bind(host, port)
    api_port = sock.getsockname()[1]
    config = uvicorn.Config(app_, log_config=None, access_log=False, lifespan="off", timeout_graceful_shutdown=5)
    server = _make_server(config)
    server_task = asyncio.create_task(server.serve(sockets=[sock]), name="uvicorn")
    tasks.append(asyncio.create_task(_settle_loop(state, 0.2), name="settle"))
    try:
        while not server.started:
            if server_task.done():
                await server_task  # raises the startup error
                raise RuntimeError("uvicorn stopped during startup")
            await asyncio.sleep(0.02)

        api_url = f"http://{host}:{api_port}/v1"
        info: dict[str, Any] = {
            "api_url": api_url,
            "admin_url": f"http://{host}:{api_port}/_sandbox",
            "mid": merchant.mid,
            "app_key": merchant.app_key,
            "app_secret": merchant.app_secret,
            "site_id": merchant.site_id,
            "tokenization_key": merchant.tokenization_key,
            "webhook_subscriber_key": merchant.webhook_subscriber_key,
            "sftp_host": host,
            "sftp_port": actual_sftp_port,
            "sftp_username": SFTP_USER,
            "sftp_client_key": str(client_key_path),
            "sftp_host_key": host_key_line,
            "sftp_root": str(sftp_root / SFTP_USER),
            "seed": seed,
            "strict_idempotency": strict_idempotency,
            "pid": os.getpid(),
            **checkout.info(f"http://{host}:{api_port}", merchant_db),
        }
        info["airflow_connections"] = {
            "flex_default": json.dumps({
                # port repeats the URL's: Airflow's connection Test compares the form's port to it.
                # webhook_secret: a name Airflow masks (it holds the merchant's subscriber key).
                "conn_type": "flex", "host": api_url, "port": api_port, "login": merchant.app_key,
                "password": merchant.app_secret,
                "extra": {"mid": merchant.mid, "site_id": merchant.site_id,
                          "tokenization_key": merchant.tokenization_key,
                          "webhook_secret": merchant.webhook_subscriber_key},
            }),
            "flex_sftp_default": json.dumps({
                "conn_type": "sftp", "host": host, "port": actual_sftp_port, "login": SFTP_USER,
                "extra": {"key_file": str(client_key_path), "host_key": host_key_line, "inbound_dir": "inbound",
                          "outbound_dir": "outbound", "compress": False},
            }),
        }
        _write_json_atomic(info_path, info)
        log.info("Flex sandbox ready: api %s, sftp %s:%s, data %s", api_url, host, actual_sftp_port, data_dir)
        stop_wait = asyncio.create_task(stop.wait())
        await asyncio.wait({stop_wait, server_task}, return_when=asyncio.FIRST_COMPLETED)
        stop_wait.cancel()
    finally:
        log.info("Flex sandbox shutting down")
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server_task, timeout=10)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if acceptor is not None:
            acceptor.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(acceptor.wait_closed(), timeout=5)
        for obj in closers:
            with contextlib.suppress(Exception):
                obj.close()
        state.close()
        _remove(info_path)


@app.command()
def serve(
    data_dir: Path = typer.Option(..., "--data-dir", help="Directory for state, keys, SFTP root, sandbox.json."),  # noqa: B008
    host: str = typer.Option("127.0.0.1", help="Interface for the API and SFTP."),
    port: int = typer.Option(0, help="API port (0 = a free port)."),
    sftp_port: int = typer.Option(0, "--sftp-port", help="SFTP port (0 = a free port)."),
    seed: int = typer.Option(0, help="Seed for credentials and outcomes."),
    clock_speed: float | None = typer.Option(None, "--clock-speed", help="Sandbox seconds per real second (default: stored, else 1)."),
    token_ttl: float = typer.Option(600.0, "--token-ttl", help="Access token lifetime in sandbox seconds."),
    approve_rate: float = typer.Option(0.35, "--approve-rate", help="Share of seeded orders that get approved."),
    strict_idempotency: bool = typer.Option(
        False, "--strict-idempotency",
        help="Only idempotency keys dedupe: a new key for an orderId with an open order is a second order."),
    webhook_url: str | None = typer.Option(None, "--webhook-url", help="Where to POST signed webhooks."),
    merchant_db_url: str | None = typer.Option(
        None, "--merchant-db-url", envvar="FLEX_SANDBOX_MERCHANT_DB_URL",
        help="SQLAlchemy URL of the merchant DB the demo checkout page stores card tokens in."),
    log_level: str = typer.Option("INFO", "--log-level"),
) -> None:
    """Start the sandbox and run until SIGTERM/SIGINT."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("asyncssh").setLevel(logging.WARNING)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve_async(data_dir, host=host, port=port, sftp_port=sftp_port, seed=seed, clock_speed=clock_speed,
                          token_ttl=token_ttl, approve_rate=approve_rate,
                          strict_idempotency=strict_idempotency, webhook_url=webhook_url,
                          merchant_db_url=merchant_db_url, stop=stop)

    asyncio.run(run())
