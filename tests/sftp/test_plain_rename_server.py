"""
A server without OpenSSH's ``posix-rename@openssh.com`` extension (many managed SFTP services lack it):
OpenSSH's own ``internal-sftp -P posix-rename`` refuses that request, so uploads, re-uploads over a
final name of another size, and outbound moves must fall back to the protocol's plain rename.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flex_provider.hooks.sftp import FlexSftpHook
from tests.fixtures.sshd import SftpEndpoint, running_sshd, sshd_usable
from tests.servers import server_missing
from tests.sftp.conftest import exchange_on, upload_both_ways


@pytest.fixture(scope="module")
def plain_rename_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SftpEndpoint]:
    if not sshd_usable():
        server_missing("needs /usr/sbin/sshd and root (ChrootDirectory)")
    with running_sshd(tmp_path_factory.mktemp("sshd-plain"), "flex-sftp-plain", sftp_flags="-P posix-rename") as ep:
        yield ep


@pytest.fixture
def exchange(plain_rename_sshd: SftpEndpoint, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    return exchange_on(plain_rename_sshd, monkeypatch)


def _batch_file(path: Path, rows: int) -> Path:
    head = {"fileType": "evaluate", "schemaVersion": 1, "mid": "M", "rowCount": rows, "authorizationToken": ""}
    body = ",\n".join(json.dumps({"sequenceNumber": str(i), "orderId": f"o-{i}"}) for i in range(1, rows + 1))
    path.write_text(json.dumps(head)[:-1] + ',"rows":[\n' + body + "\n]}\n")
    return path


def test_the_server_really_refuses_posix_rename(exchange: dict[str, Any]) -> None:
    """The premise of every test here (OpenSSH answers a denied request with "permission denied")."""
    (exchange["inbound"] / "a").write_text("x")
    hook = FlexSftpHook(exchange["conn_id"])
    with hook.get_managed_conn() as sftp, pytest.raises(PermissionError):
        sftp.posix_rename(f"{hook.inbound_dir}/a", f"{hook.inbound_dir}/b")


def test_uploads_land_whole_under_their_final_names(exchange: dict[str, Any], tmp_path: Path) -> None:
    files = [_batch_file(tmp_path / f"evaluate_M_20261124_000{n}.json", rows=n * 50) for n in (1, 2, 3)]
    assert upload_both_ways(exchange["conn_id"], files) == ["uploaded"] * 3
    assert sorted(p.name for p in exchange["inbound"].iterdir()) == [p.name for p in files]
    for path in files:
        assert (exchange["inbound"] / path.name).read_bytes() == path.read_bytes()


@pytest.mark.parametrize("path", ["one connection", "channels"])
def test_a_final_name_of_another_size_is_replaced(exchange: dict[str, Any], tmp_path: Path, path: str) -> None:
    local = _batch_file(tmp_path / "evaluate_M_20261124_0001.json", rows=20)
    (exchange["inbound"] / local.name).write_bytes(b"an earlier, cut-off upload")
    hook = FlexSftpHook(exchange["conn_id"])
    if path == "one connection":
        (result,) = hook.upload_files([local])
    else:
        with hook.open_uploader(channels=2) as uploader:
            uploader.submit(local)
            (result,) = list(uploader.wait_all())
    assert result.status == "uploaded"
    assert (exchange["inbound"] / local.name).read_bytes() == local.read_bytes()
    assert os.listdir(exchange["inbound"]) == [local.name]


def test_outbound_files_are_moved(exchange: dict[str, Any]) -> None:
    (exchange["outbound"] / "result_M_1.json").write_text('{"fileType":"result"}\n')
    hook = FlexSftpHook(exchange["conn_id"])
    hook.move_outbound("result_M_1.json", "processed")
    assert os.listdir(exchange["outbound"] / "processed") == ["result_M_1.json"]
    assert not (exchange["outbound"] / "result_M_1.json").exists()

