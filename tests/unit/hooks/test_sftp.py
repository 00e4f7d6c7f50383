"""``flex_provider.hooks.sftp``: which remote files count, the folders, and the host-key error's fix."""

from __future__ import annotations

import json
import stat

import pytest

from flex_provider.hooks.sftp import FlexSftpHook, RemoteFile, _check_name, host_key_error, select_files

REG, DIR = stat.S_IFREG | 0o644, stat.S_IFDIR | 0o755


def test_only_finished_regular_files_matching_a_pattern_are_selected_in_name_order() -> None:
    rows = [("result_b.json", REG, 20, 2.9), ("ack_a.json", REG, 10, 1), ("ack_c.json.part", REG, 5, 1),
            ("ack_dir.json", DIR, 0, 1), ("notes.txt", REG, 1, 1), ("ack_nomode.json", None, None, None)]  # fmt: skip
    assert select_files(rows, ["ack_*.json", "result_*.json"]) == [
        RemoteFile("ack_a.json", 10, 1), RemoteFile("ack_nomode.json", 0, 0), RemoteFile("result_b.json", 20, 2)]  # fmt: skip
    assert [f.name for f in select_files(rows, ["*"])] == ["ack_a.json", "ack_nomode.json", "notes.txt", "result_b.json"]
    assert RemoteFile("ack_a.json", 10, 1).to_dict() == {"name": "ack_a.json", "size": 10, "mtime": 1}


def test_the_host_key_error_names_the_server_the_key_seen_and_the_fix() -> None:
    error = host_key_error("sftp.flex.test", None, fingerprint="SHA256:abc", conn_id="flex_sftp", reason="mismatch")
    message = str(error)
    assert "sftp.flex.test:22 (mismatch)" in message
    assert "SHA256:abc" in message
    assert "ssh-keyscan -p 22 sftp.flex.test" in message
    assert "'flex_sftp'" in message


def test_the_folders_come_from_the_arguments_else_the_extras_else_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "sftp", "host": "127.0.0.1", "login": "u", "extra": {"outbound_dir": "out/flex"}}
    monkeypatch.setenv("AIRFLOW_CONN_FLEX_SFTP_X", json.dumps(conn))
    hook = FlexSftpHook("flex_sftp_x")
    assert (hook.inbound_dir, hook.outbound_dir) == ("inbound", "out/flex")
    assert FlexSftpHook("flex_sftp_x", inbound_dir="in2", outbound_dir="out2").outbound_dir == "out2"


@pytest.mark.parametrize("name", ["", ".", "..", "a/b"])
def test_a_name_with_a_folder_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="Not a plain file name"):
        _check_name(name)
