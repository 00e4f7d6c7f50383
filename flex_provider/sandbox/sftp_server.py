"""The sandbox's SFTP server: asyncssh, key-only auth, one jailed root per merchant account.

Each account ``<username>`` sees ``root/<username>/`` as ``/`` with ``inbound/``, ``outbound/``,
``archive/`` and ``quarantine/``. The server tells the batch processor (through a shared
:class:`SFTPServerControl`) which files are still open for writing and which were renamed into place,
so the processor never picks up a half-written file. Fault knobs for tests live on the control too.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh

log = logging.getLogger(__name__)

ACCOUNT_DIRS = ("inbound", "outbound", "archive", "quarantine")

_CONTROLS: dict[Path, SFTPServerControl] = {}
_CONTROLS_LOCK = threading.Lock()


@dataclass
class SFTPServerControl:
    """State shared between the SFTP server, the batch processor and the admin API (one per root).

    ``cut_session_after_bytes``: fault knob, one-shot. The next session that writes more than this many
    bytes into ``*.part`` files is aborted right there (the knob then resets to ``None``).
    """

    root: Path
    host_key_path: Path | None = None
    authorized_keys: dict[str, Path] = field(default_factory=dict)
    acceptor: asyncssh.SSHAcceptor | None = None
    cut_session_after_bytes: int | None = None
    sessions_cut: int = 0
    open_writes: Counter[str] = field(default_factory=Counter)
    renamed: dict[str, int] = field(default_factory=dict)  # local path -> inode renamed into place
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def is_open_for_write(self, path: Path) -> bool:
        with self.lock:
            return self.open_writes.get(str(path), 0) > 0

    def renamed_inode(self, path: Path) -> int | None:
        with self.lock:
            return self.renamed.get(str(path))

    def forget(self, path: Path) -> None:
        with self.lock:
            self.renamed.pop(str(path), None)

    def faults(self) -> dict[str, Any]:
        return {"cut_session_after_bytes": self.cut_session_after_bytes, "sessions_cut": self.sessions_cut}

    def rotate_host_key(self) -> str:
        """Write a fresh ed25519 host key to ``host_key_path``, serve it from now on, return its line."""
        if self.host_key_path is None:
            raise RuntimeError("server has no host key path")
        key = asyncssh.generate_private_key("ssh-ed25519")
        _write_key(self.host_key_path, key)
        if self.acceptor is not None:
            self.acceptor.update(server_host_keys=[key])
        return public_key_line(self.host_key_path)


def control_for(root: Path) -> SFTPServerControl:
    """The one :class:`SFTPServerControl` of this SFTP root (created on first use, per process)."""
    key = Path(root).resolve()
    with _CONTROLS_LOCK:
        ctl = _CONTROLS.get(key)
        if ctl is None:
            ctl = _CONTROLS[key] = SFTPServerControl(root=key)
        return ctl


def _write_key(path: Path, key: asyncssh.SSHKey) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(key.export_private_key())
    tmp.chmod(0o600)
    os.replace(tmp, path)
    Path(str(path) + ".pub").write_bytes(key.export_public_key())


def ensure_key(path: Path) -> asyncssh.SSHKey:
    """Load the private key at ``path``, generating an ed25519 key (and ``path.pub``) if missing."""
    path = Path(path)
    if not path.exists():
        _write_key(path, asyncssh.generate_private_key("ssh-ed25519"))
    return asyncssh.read_private_key(str(path))


def public_key_line(path: Path) -> str:
    """``"ssh-ed25519 AAAA..."`` for the private key at ``path`` (the form Airflow's ``host_key`` wants)."""
    key = ensure_key(path)
    return " ".join(key.export_public_key().decode().split()[:2])


def _allowed_keys(path: Path) -> set[bytes]:
    """Public key blobs allowed by ``path``: an authorized_keys/.pub file, or a private key file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError:
        log.warning("authorized key file %s unreadable", path)
        return set()
    if "PRIVATE KEY" in text:
        return {asyncssh.import_private_key(text).public_data}
    out: set[bytes] = set()
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            out.add(asyncssh.import_public_key(line).public_data)
        except (asyncssh.KeyImportError, ValueError):
            log.warning("ignoring bad authorized key line in %s", path)
    return out


class _SSHServer(asyncssh.SSHServer):
    """Public-key auth only; the allowed keys are re-read at each login so files can be rotated."""

    def __init__(self, ctl: SFTPServerControl):
        self._ctl = ctl

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def host_based_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        path = self._ctl.authorized_keys.get(username)
        return path is not None and key.public_data in _allowed_keys(path)


class JailedSFTPServer(asyncssh.SFTPServer):
    """asyncssh SFTP server chrooted to ``root/<username>``; tracks writes and renames for the processor."""

    def __init__(self, chan: asyncssh.SSHServerChannel, *, ctl: SFTPServerControl):
        self._ctl = ctl
        username = chan.get_extra_info("username")
        home = ctl.root / username
        for sub in ACCOUNT_DIRS:
            (home / sub).mkdir(parents=True, exist_ok=True)
        super().__init__(chan, chroot=os.fsencode(home))
        self._write_handles: dict[int, str] = {}
        self._part_bytes = 0

    def _local(self, path: bytes) -> str:
        return os.fsdecode(self.map_path(path))

    def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        file_obj = super().open(path, pflags, attrs)
        if pflags & (asyncssh.FXF_WRITE | asyncssh.FXF_APPEND | asyncssh.FXF_CREAT):
            local = self._local(path)
            with self._ctl.lock:
                self._ctl.open_writes[local] += 1
                self._ctl.renamed.pop(local, None)
            self._write_handles[id(file_obj)] = local
        return file_obj

    def _release(self, handle_id: int) -> None:
        local = self._write_handles.pop(handle_id, None)
        if local is None:
            return
        with self._ctl.lock:
            self._ctl.open_writes[local] -= 1
            if self._ctl.open_writes[local] <= 0:
                del self._ctl.open_writes[local]

    def close(self, file_obj: object) -> None:
        try:
            super().close(file_obj)
        finally:
            self._release(id(file_obj))

    def write(self, file_obj: object, offset: int, data: bytes) -> int:
        local = self._write_handles.get(id(file_obj), "")
        limit = self._ctl.cut_session_after_bytes
        if limit is not None and local.endswith(".part"):
            allowed = max(0, limit - self._part_bytes)
            self._part_bytes += len(data)
            if self._part_bytes > limit:
                if allowed:
                    super().write(file_obj, offset, data[:allowed])
                self._ctl.cut_session_after_bytes = None
                self._ctl.sessions_cut += 1
                log.warning("fault: cutting SFTP session after %d bytes written to %s", limit, local)
                self.connection.abort()
                raise asyncssh.SFTPConnectionLost("session cut by sandbox fault")
        return super().write(file_obj, offset, data)

    def _mark_renamed(self, newpath: bytes) -> None:
        local = self._local(newpath)
        try:
            ino = os.stat(local).st_ino
        except OSError:
            return
        with self._ctl.lock:
            self._ctl.renamed[local] = ino

    def rename(self, oldpath: bytes, newpath: bytes) -> None:
        super().rename(oldpath, newpath)
        self._mark_renamed(newpath)

    def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
        super().posix_rename(oldpath, newpath)
        self._mark_renamed(newpath)

    def exit(self) -> None:
        for handle_id in list(self._write_handles):
            self._release(handle_id)


def _prepare(
    root: Path, host_key_path: Path, authorized_keys: dict[str, Path]
) -> tuple[SFTPServerControl, asyncssh.SSHKey]:
    """Create the account folders and the host key; register them on the root's control."""
    ctl = control_for(root)
    ctl.host_key_path = Path(host_key_path)
    ctl.authorized_keys = {user: Path(p) for user, p in authorized_keys.items()}
    for user in authorized_keys:
        for sub in ACCOUNT_DIRS:
            (ctl.root / user / sub).mkdir(parents=True, exist_ok=True)
    return ctl, ensure_key(ctl.host_key_path)


async def start_sftp_server(
    state: Any,
    root: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    host_key_path: Path,
    authorized_keys: dict[str, Path],
) -> asyncssh.SSHAcceptor:
    """Listen for SFTP on ``host:port`` (0 = any free port; read it with ``acceptor.get_port()``).

    ``authorized_keys`` maps an account user name to a key file: an OpenSSH ``authorized_keys``/``.pub``
    file or the client's private key (its public half is used). ``host_key_path`` is created (ed25519)
    when missing. ``state`` is not needed for serving files; it is accepted for symmetry with the rest.
    """
    ctl, host_key = _prepare(root, host_key_path, authorized_keys)
    acceptor = await asyncssh.listen(
        host,
        port,
        server_factory=lambda: _SSHServer(ctl),
        server_host_keys=[host_key],
        sftp_factory=lambda chan: JailedSFTPServer(chan, ctl=ctl),
        allow_scp=False,
        allow_pty=False,
        agent_forwarding=False,
        x11_forwarding=False,
        gss_host=None,
        login_timeout=30,
    )
    ctl.acceptor = acceptor
    log.info("sandbox SFTP listening on %s:%d (root %s)", host, acceptor.get_port(), ctl.root)
    return acceptor
