"""``flex_provider.hooks.sftp_upload``: line 1 (the token) replaced with its ending kept; the connect options."""

from __future__ import annotations

import json

import asyncssh
import pytest

from flex_provider.hooks.sftp import FlexSftpHook
from flex_provider.hooks.sftp_upload import MAX_FIRST_LINE, _Lines, _replace_first_line, connect_options


def test_line_one_is_transformed_and_keeps_its_line_ending() -> None:
    assert _replace_first_line(_Lines(b'{"token":"old"}\r\n{"row":1}\n'), lambda s: s.replace("old", "new")) == b'{"token":"new"}\r\n'
    assert _replace_first_line(_Lines(b"only line"), str.upper) == b"ONLY LINE"


def test_a_first_line_over_the_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="longer than"):
        _replace_first_line(_Lines(b"x" * (MAX_FIRST_LINE + 2)), str.upper)


def test_connect_options_pin_the_host_key_and_carry_the_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    public = key.export_public_key().decode().split()[:2]
    conn = {"conn_type": "sftp", "host": "127.0.0.1", "port": 2222, "login": "flex", "password": " pw ",
            "extra": {"host_key": " ".join(public)}}  # fmt: skip
    monkeypatch.setenv("AIRFLOW_CONN_FLEX_SFTP_PIN", json.dumps(conn))
    options = connect_options(FlexSftpHook("flex_sftp_pin"))
    assert (options["host"], options["port"], options["username"], options["password"]) == ("127.0.0.1", 2222, "flex", "pw")
    trusted, _, _ = options["known_hosts"]
    assert [k.export_public_key().decode().split()[:2] for k in trusted] == [public]
