"""``flex_provider.sandbox.sftp_server``: who may log in, host keys, and what the batch processor is told.

No server here (``tests/sandbox/test_sftp_server.py`` runs it): the key checks, the key files and the
shared :class:`SFTPServerControl` on tmp paths, with real asyncssh keys.
"""

from __future__ import annotations

import os
from pathlib import Path

import asyncssh

from flex_provider.sandbox import sftp_server
from flex_provider.sandbox.sftp_server import SFTPServerControl, control_for, ensure_key, public_key_line


def test_a_user_logs_in_only_with_a_key_listed_for_that_user(tmp_path: Path) -> None:
    alice, bob = asyncssh.generate_private_key("ssh-ed25519"), asyncssh.generate_private_key("ssh-ed25519")
    listed = tmp_path / "alice.pub"
    listed.write_text("# alice's laptop\nnot a key line\n" + alice.export_public_key().decode())
    ctl = SFTPServerControl(root=tmp_path, authorized_keys={"alice": listed})
    server = sftp_server._SSHServer(ctl)
    assert server.validate_public_key("alice", alice) is True
    assert server.validate_public_key("alice", bob) is False
    assert server.validate_public_key("bob", bob) is False  # no key file for bob
    assert (server.password_auth_supported(), server.kbdint_auth_supported()) == (False, False)


def test_a_private_key_file_authorises_its_public_half_and_a_missing_file_nobody(tmp_path: Path) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    private = tmp_path / "client_ed25519"
    private.write_bytes(key.export_private_key())
    assert sftp_server._allowed_keys(private) == {key.public_data}
    assert sftp_server._allowed_keys(tmp_path / "missing.pub") == set()


def test_a_host_key_is_made_once_and_rotation_replaces_it(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "host_ed25519"
    first = public_key_line(path)
    assert first.startswith("ssh-ed25519 ")
    assert len(first.split()) == 2
    assert public_key_line(path) == first
    assert ensure_key(path).public_data
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert Path(str(path) + ".pub").read_text().split()[:2] == first.split()
    rotated = SFTPServerControl(root=tmp_path, host_key_path=path).rotate_host_key()
    assert rotated != first
    assert public_key_line(path) == rotated


def test_one_control_per_root_tracks_open_writes_and_renames(tmp_path: Path) -> None:
    ctl = control_for(tmp_path / "sftp")
    assert control_for(tmp_path / "sftp" / ".." / "sftp") is ctl
    assert control_for(tmp_path / "other") is not ctl
    path = tmp_path / "sftp" / "merchant" / "inbound" / "evaluate_1.json"
    assert ctl.is_open_for_write(path) is False
    assert ctl.renamed_inode(path) is None
    ctl.open_writes[str(path)] += 1
    ctl.renamed[str(path)] = 42
    assert ctl.is_open_for_write(path) is True
    assert ctl.renamed_inode(path) == 42
    ctl.forget(path)
    assert ctl.renamed_inode(path) is None
    ctl.cut_session_after_bytes = 10
    assert ctl.faults() == {"cut_session_after_bytes": 10, "sessions_cut": 0}
