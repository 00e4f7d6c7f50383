"""FlexSftpHook against real servers: atomic upload, rerun skip, outbound listing/download/move, host keys."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

import asyncssh
import pytest
from airflow.providers.ssh.hooks.ssh import SSHHook

from flex_provider.exceptions import FlexHostKeyMismatchError
from flex_provider.hooks.sftp import FlexSftpAsyncHook, FlexSftpHook, RemoteFile
from tests.sftp.conftest import wrong_host_key

BIG = 24 * 1024 * 1024


def _batch_file(path: Path, rows: int = 3) -> Path:
    head = {
        "fileType": "evaluate",
        "schemaVersion": 1,
        "mid": "M",
        "rowCount": rows,
        "authorizationToken": "",
    }
    lines = [json.dumps(head, separators=(",", ":"))[:-1] + ',"rows":[']
    lines += [json.dumps({"sequenceNumber": str(i), "orderId": f"o-{i}"}) + "," for i in range(1, rows)]
    lines += [json.dumps({"sequenceNumber": str(rows), "orderId": f"o-{rows}"}), "]}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_upload_is_atomic_and_rerun_skips(exchange, tmp_path, monkeypatch):
    big = tmp_path / "transmit_M_20261124_0001.csv"
    big.write_bytes(b"sequenceNumber,mid\r\n" + os.urandom(BIG - 20))
    batch = _batch_file(tmp_path / "evaluate_M_20261124_0001.json")
    hook = FlexSftpHook(exchange["conn_id"])
    remote_in = hook.inbound_dir
    connects = []
    real_connect = SSHHook.get_conn

    def counting_connect(self):
        if self is hook:
            connects.append(1)
        return real_connect(self)

    monkeypatch.setattr(SSHHook, "get_conn", counting_connect)

    # A second connection polls the remote folder during the upload: a final name must never show a
    # partial size, and the .part name must be seen (proof the reader really raced the upload).
    seen_part, bad, done = [], [], threading.Event()

    def reader() -> None:
        watcher = FlexSftpHook(exchange["conn_id"])
        with watcher.get_managed_conn() as sftp:
            while not done.is_set():
                for e in sftp.listdir_attr(remote_in):
                    if e.filename == big.name + ".part":
                        seen_part.append(e.st_size)
                    elif e.filename == big.name and e.st_size != BIG:
                        bad.append(e.st_size)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        token = "Bearer tok-123"
        results = hook.upload_files(
            [big, batch],
            transform_first_line=lambda line: (
                line.replace('"authorizationToken":""', f'"authorizationToken":"{token}"')
                if line.startswith("{")
                else line
            ),
        )
    finally:
        done.set()
        thread.join()
    assert not bad, f"reader saw the final name with partial sizes {bad}"
    assert seen_part, "the reader never saw the upload in progress"
    assert [r.status for r in results] == ["uploaded", "uploaded"]
    assert len(connects) == 1, "all files of a run go over one SSH connection"

    remote_big = exchange["inbound"] / big.name
    assert remote_big.stat().st_size == BIG == results[0].size
    assert results[0].sha256 == hashlib.sha256(big.read_bytes()).hexdigest()
    remote_batch = (exchange["inbound"] / batch.name).read_bytes()
    assert remote_batch.split(b"\n", 1)[1] == batch.read_bytes().split(b"\n", 1)[1]
    assert json.loads(remote_batch)["authorizationToken"] == token
    assert results[1].size == len(remote_batch)
    assert results[1].sha256 == hashlib.sha256(remote_batch).hexdigest()
    assert not [p for p in exchange["inbound"].iterdir() if p.name.endswith(".part")]

    # Rerun: the remote files are there with the expected sizes, nothing is sent again.
    mtimes = {p.name: p.stat().st_mtime_ns for p in exchange["inbound"].iterdir()}
    again = hook.upload_files(
        [big, batch], transform_first_line=lambda line: line.replace('""', f'"{token}"')
    )
    assert [r.status for r in again] == ["skipped", "skipped"]
    assert {p.name: p.stat().st_mtime_ns for p in exchange["inbound"].iterdir()} == mtimes


def test_list_download_move(exchange, tmp_path):
    out = exchange["outbound"]
    (out / "ack_evaluate_1.json").write_text('{"fileType":"ack"}\n')
    (out / "result_M_1.json").write_text('{"fileType":"result"}\n')
    (out / "result_M_2.json.part").write_text("{")
    (out / "notes.txt").write_text("x")
    (out / "ack_dir.json").mkdir()
    hook = FlexSftpHook(exchange["conn_id"])

    files = hook.list_outbound(["ack_*.json", "result_*.json"])
    assert [f.name for f in files] == ["ack_evaluate_1.json", "result_M_1.json"]
    st = (out / "result_M_1.json").stat()
    assert files[1] == RemoteFile("result_M_1.json", st.st_size, int(st.st_mtime))

    local = hook.download("result_M_1.json", tmp_path / "dl")
    assert local.read_text() == '{"fileType":"result"}\n'
    assert [p.name for p in local.parent.iterdir()] == ["result_M_1.json"]

    with hook.get_managed_conn():  # one connection for both moves; the second reuses processed/
        hook.move_outbound("ack_evaluate_1.json", "processed")
        hook.move_outbound("result_M_1.json", "processed")
    assert sorted(p.name for p in (out / "processed").iterdir()) == ["ack_evaluate_1.json", "result_M_1.json"]
    assert hook.list_outbound(["*.json"]) == []


def _expect_fix(message: str, server) -> None:
    assert f"{server.host}:{server.port}" in message
    assert f"ssh-keyscan -p {server.port} {server.host}" in message
    assert "host_key" in message


def test_wrong_host_key_sync(sftp_server, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_FLEX_SFTP_BADKEY", sftp_server.conn_json(host_key=wrong_host_key()))
    hook = FlexSftpHook("flex_sftp_badkey", conn_retry_attempts=1)
    with pytest.raises(FlexHostKeyMismatchError) as err:
        hook.list_outbound(["*"])
    _expect_fix(str(err.value), sftp_server)
    seen = asyncssh.import_public_key(sftp_server.host_key).get_fingerprint("sha256")
    assert seen in str(err.value)


@pytest.mark.asyncio
async def test_wrong_host_key_async_hook(sftp_server, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_FLEX_SFTP_BADKEY", sftp_server.conn_json(host_key=wrong_host_key()))
    with pytest.raises(FlexHostKeyMismatchError) as err:
        await FlexSftpAsyncHook("flex_sftp_badkey").list_outbound(["*"])
    _expect_fix(str(err.value), sftp_server)
    assert asyncssh.import_public_key(sftp_server.host_key).get_fingerprint("sha256") in str(err.value)


@pytest.mark.asyncio
async def test_async_hook_lists_like_sync(exchange):
    (exchange["outbound"] / "ack_x.json").write_text("{}\n")
    (exchange["outbound"] / "ack_y.json.part").write_text("{")
    files = await FlexSftpAsyncHook(exchange["conn_id"]).list_outbound(["ack_*.json"])
    assert files == FlexSftpHook(exchange["conn_id"]).list_outbound(["ack_*.json"])
    assert [f.name for f in files] == ["ack_x.json"]
