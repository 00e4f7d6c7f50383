"""``flex_provider.sandbox.cli``: the data dir a sandbox starts on: keys made once, no stale ``sandbox.json``.

The parts of ``serve`` that need no listening socket, on a tmp dir (``tests/sandbox`` runs ``serve`` itself).
"""

from __future__ import annotations

import os
from pathlib import Path

from typer.testing import CliRunner

from flex_provider.sandbox import cli


def test_a_keypair_is_made_once_with_a_private_file_only_its_owner_reads(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "client_ed25519"
    line = cli.ensure_keypair(path)
    assert line.startswith("ssh-ed25519 ")
    assert len(line.split()) == 2
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert Path(str(path) + ".pub").read_text().split()[:2] == line.split()
    assert cli.ensure_keypair(path) == line  # reused, not replaced
    assert not path.with_name(path.name + ".tmp").exists()


def test_the_data_dir_is_prepared_and_a_stale_sandbox_json_removed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "sandbox.json").write_text('{"api_url": "http://127.0.0.1:1/v1"}')
    resolved, host_line = cli._prepare_dir(data)
    assert resolved == data.resolve()
    assert not (data / "sandbox.json").exists()
    assert host_line == cli.ensure_keypair(data / "keys" / "host_ed25519")
    assert (data / "keys" / "client_ed25519").exists()
    assert (data / "sftp" / cli.SFTP_USER).is_dir()


def test_serve_requires_a_data_dir() -> None:
    result = CliRunner().invoke(cli.app, ["serve"])
    assert result.exit_code != 0
    assert "--data-dir" in result.output
