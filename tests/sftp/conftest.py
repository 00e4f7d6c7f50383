"""SFTP test helpers: the same tests run against OpenSSH sshd and the sandbox's asyncssh server."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.sshd import SftpEndpoint


def _sandbox_endpoint(sandbox: Any) -> SftpEndpoint:
    """Adapt whatever the sandbox fixture yields (its sandbox.json as a dict, or an object holding it)."""
    info = sandbox if isinstance(sandbox, dict) else None
    for attr in ("info", "config", "data", "json"):
        if info is None and isinstance(getattr(sandbox, attr, None), dict):
            info = getattr(sandbox, attr)
    if info is None:
        info = {k: getattr(sandbox, k) for k in dir(sandbox) if k.startswith("sftp_")}
    return SftpEndpoint(
        host=info["sftp_host"],
        port=int(info["sftp_port"]),
        username=info["sftp_username"],
        client_key=Path(info["sftp_client_key"]),
        host_key=info["sftp_host_key"],
        root=Path(info["sftp_root"]),
        name="sandbox",
    )


@pytest.fixture(scope="session")
def sandbox_sftp_in_thread(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SftpEndpoint]:
    """The sandbox's asyncssh SFTP server alone, on its own event loop thread (no batch processor)."""
    import asyncssh

    from flex_provider.sandbox.sftp_server import public_key_line, start_sftp_server

    base = tmp_path_factory.mktemp("sandbox-sftp")
    client_key = base / "client_ed25519"
    key = asyncssh.generate_private_key("ssh-ed25519")
    client_key.write_bytes(key.export_private_key())
    client_key.chmod(0o600)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    acceptor = asyncio.run_coroutine_threadsafe(
        start_sftp_server(
            None,
            base / "root",
            host="127.0.0.1",
            port=0,
            host_key_path=base / "host_ed25519",
            authorized_keys={"merchant": client_key},
        ),
        loop,
    ).result(timeout=30)
    try:
        yield SftpEndpoint(
            host="127.0.0.1",
            port=acceptor.get_port(),
            username="merchant",
            client_key=client_key,
            host_key=public_key_line(base / "host_ed25519"),
            root=base / "root" / "merchant",
            name="sandbox",
        )
    finally:

        async def _stop() -> None:
            acceptor.close()
            await acceptor.wait_closed()

        asyncio.run_coroutine_threadsafe(_stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


@pytest.fixture(params=["sshd", "sandbox"])
def sftp_server(request: pytest.FixtureRequest) -> SftpEndpoint:
    """
    An SFTP endpoint: the OpenSSH sshd, or the sandbox's asyncssh server.

    The sandbox variant uses the running sandbox (``sandbox`` fixture) when that fixture exists, and
    otherwise the sandbox's SFTP server module started in this process.
    """
    if request.param == "sshd":
        return request.getfixturevalue("sshd")
    try:
        sandbox = request.getfixturevalue("sandbox")
    except pytest.FixtureLookupError:
        return request.getfixturevalue("sandbox_sftp_in_thread")
    return _sandbox_endpoint(sandbox)


def exchange_on(server: SftpEndpoint, monkeypatch: pytest.MonkeyPatch, **extra: object) -> dict[str, Any]:
    """A connection with its own inbound/outbound folders on ``server``; ``extra`` overrides its extras."""
    base = f"t-{uuid.uuid4().hex[:8]}"
    for sub in ("in", "out"):
        (server.root / base / sub).mkdir(parents=True)
    conn_id = f"flex_sftp_{base[2:]}"
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}",
        server.conn_json(inbound_dir=f"{base}/in", outbound_dir=f"{base}/out", **extra),
    )
    return {
        "conn_id": conn_id,
        "server": server,
        "inbound": server.root / base / "in",
        "outbound": server.root / base / "out",
    }


@pytest.fixture
def exchange(sftp_server: SftpEndpoint, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A connection with its own inbound/outbound folders on the server (so tests never collide)."""
    return exchange_on(sftp_server, monkeypatch)


def upload_both_ways(conn_id: str, files: list[Path]) -> list[str]:
    """Upload the first file over the paramiko connection and the rest over two channels; the statuses."""
    from flex_provider.hooks.sftp import FlexSftpHook

    hook = FlexSftpHook(conn_id)
    statuses = [r.status for r in hook.upload_files(files[:1])]
    with hook.open_uploader(channels=2) as uploader:
        for path in files[1:]:
            uploader.submit(path)
        statuses += sorted(r.status for r in uploader.wait_all())
    return statuses


def wrong_host_key() -> str:
    """A valid ed25519 public key line that no test server uses."""
    import asyncssh

    key = asyncssh.generate_private_key("ssh-ed25519")
    return " ".join(key.export_public_key().decode().split()[:2])
