"""
A merchant's SSH key protected by a passphrase (the connection's ``private_key_passphrase``), given as a
``key_file`` or inline as ``private_key``: every SFTP path of the hook logs in with it (the paramiko
connection, the asyncssh upload channels, the triggerer's listing).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from flex_provider.hooks.sftp import FlexSftpAsyncHook
from tests.fixtures.sshd import SftpEndpoint
from tests.sftp.conftest import exchange_on, upload_both_ways

PASSPHRASE = "correct horse battery staple"


@pytest.fixture(scope="module")
def protected_key(sshd: SftpEndpoint, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ed25519 key under PASSPHRASE, authorized on the session's sshd."""
    key = tmp_path_factory.mktemp("passphrase-key") / "merchant_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", PASSPHRASE, "-f", str(key)], check=True)
    authorized = sshd.client_key.parent / "authorized_keys"
    with authorized.open("a", encoding="utf-8") as fh:
        fh.write(key.with_suffix(".pub").read_text())
    return key


@pytest.fixture(params=["key_file", "private_key"])
def exchange(
    request: pytest.FixtureRequest, sshd: SftpEndpoint, protected_key: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    if request.param == "key_file":
        key: dict[str, object] = {"key_file": str(protected_key)}
    else:
        key = {"key_file": None, "private_key": protected_key.read_text()}
    return exchange_on(sshd, monkeypatch, **key, private_key_passphrase=PASSPHRASE)


def test_uploads_log_in_with_a_passphrase_protected_key(exchange: dict[str, Any], tmp_path: Path) -> None:
    files = []
    for n in (1, 2, 3):
        path = tmp_path / f"evaluate_M_20261124_000{n}.json"
        path.write_text(f'{{"fileType":"evaluate","rows":[\n{{"n":{n}}}\n]}}\n')
        files.append(path)
    assert upload_both_ways(exchange["conn_id"], files) == ["uploaded"] * 3
    assert sorted(p.name for p in exchange["inbound"].iterdir()) == [p.name for p in files]


@pytest.mark.asyncio
async def test_the_triggerers_listing_logs_in_with_it_too(exchange: dict[str, Any]) -> None:
    (exchange["outbound"] / "result_M_1.json").write_text('{"fileType":"result"}\n')
    hook = FlexSftpAsyncHook(exchange["conn_id"])
    files = await hook.list_outbound(["result_*.json"])
    assert [f.name for f in files] == ["result_M_1.json"]
