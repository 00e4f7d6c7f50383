"""
SFTP hooks for the Flex batch exchange.

Thin layers over the sftp provider's :class:`~airflow.providers.sftp.hooks.sftp.SFTPHook` (paramiko,
for workers) and :class:`~airflow.providers.sftp.hooks.sftp.SFTPHookAsync` (asyncssh, for triggers).
They reuse the standard ``sftp`` connection type, including its ``host_key`` pinning, and add what the
exchange needs: the ``inbound_dir`` / ``outbound_dir`` folders from the connection extra, atomic
uploads (``<name>.part`` then a rename that replaces, ``sftp_rename``), listings of finished outbound
files, and a host-key error that says how to fix it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import posixpath
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncssh
import paramiko
from airflow.providers.common.compat.connection import get_async_connection
from airflow.providers.sftp.hooks.sftp import SFTPHook, SFTPHookAsync
from paramiko import SFTPClient

from flex_provider import SFTP_CONN_ID
from flex_provider.exceptions import FlexHostKeyMismatchError
from flex_provider.hooks.sftp_rename import remote_size, rename_replacing
from flex_provider.hooks.sftp_upload import UploadResult

if TYPE_CHECKING:
    from flex_provider.hooks.sftp_upload import ChannelUploader

__all__ = [
    "FlexSftpAsyncHook",
    "FlexSftpHook",
    "RemoteFile",
    "UploadResult",
    "host_key_error",
    "select_files",
]

DEFAULT_INBOUND_DIR = "inbound"
DEFAULT_OUTBOUND_DIR = "outbound"
PART_SUFFIX = ".part"


@dataclass(frozen=True)
class RemoteFile:
    """A finished file on the server: name (no folder), size in bytes, mtime in epoch seconds (UTC)."""

    name: str
    size: int
    mtime: int

    def to_dict(self) -> dict[str, Any]:
        """Return plain data for XCom and trigger events."""
        return asdict(self)


def _fingerprint(key: paramiko.PKey | asyncssh.SSHKey | None) -> str | None:
    """Return ``SHA256:<base64>`` of a host key, the format ``ssh-keygen -l`` prints."""
    if key is None:
        return None
    if isinstance(key, paramiko.PKey):
        digest = hashlib.sha256(key.asbytes()).digest()
        return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")
    return key.get_fingerprint("sha256")


def host_key_error(
    host: str | None, port: int | None, *, fingerprint: str | None, conn_id: str | None, reason: str
) -> FlexHostKeyMismatchError:
    """Build the host-key error whose message names the server, the key seen and the fix."""
    port = port or 22
    seen = f" The server presented {fingerprint}." if fingerprint else ""
    return FlexHostKeyMismatchError(
        f"SFTP host key check failed for {host}:{port} ({reason}).{seen} "
        f"To trust the server's key, confirm it with the server's operator, fetch it with "
        f"`ssh-keyscan -p {port} {host}` and put the 'ssh-ed25519 AAAA...' part into the `host_key` "
        f"extra of connection {conn_id!r}."
    )


class FlexSftpHook(SFTPHook):
    """
    Worker-side SFTP access to the Flex exchange folders (paramiko).

    Takes every argument of :class:`~airflow.providers.sftp.hooks.sftp.SFTPHook` (for example
    ``conn_retry_attempts``). All methods below run over one managed connection; wrap several calls in
    ``with hook.get_managed_conn():`` to share it between them.

    :param ssh_conn_id: an ``sftp`` connection; extras ``inbound_dir`` / ``outbound_dir`` name the folders.
    :param inbound_dir: overrides the connection's ``inbound_dir`` (default ``inbound``).
    :param outbound_dir: overrides the connection's ``outbound_dir`` (default ``outbound``).
    """

    default_conn_name = SFTP_CONN_ID
    hook_name = "Flex SFTP"

    def __init__(
        self,
        ssh_conn_id: str | None = default_conn_name,
        *args: Any,
        inbound_dir: str | None = None,
        outbound_dir: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(ssh_conn_id, *args, **kwargs)
        extra = self.get_connection(ssh_conn_id).extra_dejson if ssh_conn_id else {}
        self.inbound_dir: str = inbound_dir or extra.get("inbound_dir") or DEFAULT_INBOUND_DIR
        self.outbound_dir: str = outbound_dir or extra.get("outbound_dir") or DEFAULT_OUTBOUND_DIR
        #: The ``private_key_passphrase`` extra, for a ``key_file`` as well as an inline ``private_key``.
        self.key_passphrase: str | None = extra.get("private_key_passphrase") or None
        if self.key_file and self.key_passphrase and self.pkey is None:
            # SSHHook hands paramiko the key file without its passphrase: load the key here instead.
            key_text = Path(self.key_file).expanduser().read_text(encoding="utf-8")
            self.pkey = self._pkey_from_private_key(key_text, passphrase=self.key_passphrase)

    # -- connection -----------------------------------------------------------------------------

    @contextmanager
    def _host_key_errors(self) -> Iterator[None]:
        """Turn paramiko's host-key failures into :class:`FlexHostKeyMismatchError`."""
        try:
            yield
        except paramiko.BadHostKeyException as err:
            raise host_key_error(
                self.remote_host,
                self.port,
                fingerprint=_fingerprint(err.key),
                conn_id=self.ssh_conn_id,
                reason="the key does not match the pinned one",
            ) from err
        except paramiko.SSHException as err:
            if "not found in known_hosts" not in str(err):
                raise
            raise host_key_error(
                self.remote_host,
                self.port,
                fingerprint=None,
                conn_id=self.ssh_conn_id,
                reason="the host is unknown: no `host_key` extra and not in known_hosts",
            ) from err

    @contextmanager
    def get_managed_conn(self) -> Iterator[SFTPClient]:
        """Open (or reuse) the shared SFTP connection; a host-key failure raises with the fix."""
        # Host-key errors can only come from opening the connection, never from the caller's block.
        with self._host_key_errors(), super().get_managed_conn() as sftp:
            yield sftp

    def get_conn(self) -> SFTPClient:
        """Open an SFTP connection (unmanaged); a host-key failure raises with the fix."""
        with self._host_key_errors():
            return super().get_conn()

    # -- upload ---------------------------------------------------------------------------------

    def upload_files(
        self,
        local_paths: Sequence[str | os.PathLike[str]],
        *,
        remote_dir: str | None = None,
        transform_first_line: Callable[[str], str] | None = None,
    ) -> list[UploadResult]:
        """
        Upload files atomically over one connection: write ``<name>.part``, check its size, rename.

        A reader of the remote folder never sees a final name with partial content. If the final name
        already exists with the size this upload would produce, the file is left alone and reported
        as ``skipped`` (a rerun uploads nothing again).

        :param local_paths: files to upload; the remote name is the local file name.
        :param remote_dir: target folder; default the connection's inbound folder.
        :param transform_first_line: called with line 1 (text, without its line ending) of each file;
            its return value replaces that line in the upload (the shipper inserts a fresh bearer
            token). The rest of the file is streamed unchanged, in chunks.
        :return: one :class:`UploadResult` per file, in input order.
        """
        from flex_provider.hooks.sftp_upload import upload_one

        target = remote_dir or self.inbound_dir
        with self.get_managed_conn() as sftp:
            return [
                upload_one(self, sftp, Path(local), target, transform_first_line) for local in local_paths
            ]

    def open_uploader(
        self,
        *,
        channels: int = 4,
        remote_dir: str | None = None,
        transform_first_line: Callable[[str], str] | None = None,
    ) -> ChannelUploader:
        """
        An uploader over ``channels`` SFTP channels of one SSH session (asyncssh, in a background
        thread): ``with hook.open_uploader() as up: up.submit(path) ...; up.wait_all()``.

        Same guarantees as :meth:`upload_files` (``.part`` + size check + rename, a final name
        with the expected size is ``skipped``, line 1 replaced if asked, the ``host_key`` pin), with
        ``channels`` files in flight while the caller prepares the next ones.
        """
        from flex_provider.hooks.sftp_upload import ChannelUploader

        return ChannelUploader(
            self,
            channels=channels,
            remote_dir=remote_dir or self.inbound_dir,
            transform_first_line=transform_first_line,
        )

    # -- outbound -------------------------------------------------------------------------------

    def list_outbound(self, patterns: Iterable[str], *, outbound_dir: str | None = None) -> list[RemoteFile]:
        """
        List finished files in the outbound folder whose names match any fnmatch pattern.

        ``*.part`` files, folders and other non-regular entries are never returned. Sorted by name.
        """
        folder = outbound_dir or self.outbound_dir
        with self.get_managed_conn() as sftp:
            entries = sftp.listdir_attr(folder)
        return select_files(((e.filename, e.st_mode, e.st_size, e.st_mtime) for e in entries), list(patterns))

    def download(
        self, name: str, local_dir: str | os.PathLike[str], *, outbound_dir: str | None = None
    ) -> Path:
        """
        Download one outbound file into ``local_dir``: written as ``<name>.part``, then renamed.

        :return: the local path of the finished file.
        """
        _check_name(name)
        folder = outbound_dir or self.outbound_dir
        local_dir = Path(local_dir)
        local_dir.mkdir(parents=True, exist_ok=True)
        final = local_dir / name
        part = local_dir / (name + PART_SUFFIX)
        with self.get_managed_conn() as sftp:
            sftp.get(posixpath.join(folder, name), str(part), prefetch=True)
        os.replace(part, final)
        return final

    def move_outbound(self, name: str, subdir: str, *, outbound_dir: str | None = None) -> str:
        """
        Move an outbound file into a subfolder of the outbound folder (created if missing).

        Used to set aside processed files (``processed/``) and unreadable ones (``quarantine/``).

        :return: the new remote path.
        """
        _check_name(name)
        folder = outbound_dir or self.outbound_dir
        target_dir = posixpath.join(folder, subdir)
        target = posixpath.join(target_dir, name)
        with self.get_managed_conn() as sftp:
            if remote_size(sftp, target_dir) is None:
                try:
                    sftp.mkdir(target_dir)
                except OSError:
                    if remote_size(sftp, target_dir) is None:  # not made by a concurrent mover either
                        raise
            rename_replacing(sftp, posixpath.join(folder, name), target)
        return target


class FlexSftpAsyncHook(SFTPHookAsync):
    """
    Triggerer-side SFTP access to the Flex exchange folders (asyncssh), for listings only.

    Honours the same ``host_key`` extra as :class:`FlexSftpHook`.

    :param sftp_conn_id: an ``sftp`` connection; extra ``outbound_dir`` names the folder.
    :param outbound_dir: overrides the connection's ``outbound_dir`` (default ``outbound``).
    """

    default_conn_name = SFTP_CONN_ID
    hook_name = "Flex SFTP"

    def __init__(
        self,
        sftp_conn_id: str = default_conn_name,
        *,
        inbound_dir: str | None = None,
        outbound_dir: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(sftp_conn_id, **kwargs)
        self._inbound_override = inbound_dir
        self._outbound_override = outbound_dir
        self.inbound_dir: str = inbound_dir or DEFAULT_INBOUND_DIR
        self.outbound_dir: str = outbound_dir or DEFAULT_OUTBOUND_DIR
        self._resolved_host: str | None = self.host or None
        self._resolved_port: int | None = self.port

    def _parse_extras(self, conn: Any) -> None:
        """Also read the exchange folders and remember where we connect, for error messages."""
        super()._parse_extras(conn)
        extra = conn.extra_dejson
        self.inbound_dir = self._inbound_override or extra.get("inbound_dir") or DEFAULT_INBOUND_DIR
        self.outbound_dir = self._outbound_override or extra.get("outbound_dir") or DEFAULT_OUTBOUND_DIR
        self._resolved_host = self.host or conn.host
        self._resolved_port = self.port or conn.port or 22

    async def _get_conn(self) -> asyncssh.SSHClientConnection:
        """Connect; a host key that is not trusted raises :class:`FlexHostKeyMismatchError`."""
        try:
            return await super()._get_conn()
        except asyncssh.HostKeyNotVerifiable as err:
            host, port = self._resolved_host, self._resolved_port
            if host is None:  # failed before the extras were parsed; look the connection up
                conn = await get_async_connection(self.sftp_conn_id)
                host, port = conn.host, conn.port
            fingerprint = await _probe_fingerprint(host, port or 22)
            raise host_key_error(
                host,
                port,
                fingerprint=fingerprint,
                conn_id=self.sftp_conn_id,
                reason=f"the key is not trusted: {err.reason}",
            ) from err

    async def list_outbound(
        self, patterns: Iterable[str], *, outbound_dir: str | None = None
    ) -> list[RemoteFile]:
        """
        List finished outbound files matching any fnmatch pattern (never ``*.part``), sorted by name.

        :raises FileNotFoundError: when the outbound folder does not exist.
        """
        patterns = list(patterns)
        async with self.get_managed_conn() as sftp:
            folder = outbound_dir or self.outbound_dir
            try:
                entries = await sftp.readdir(folder)
            except asyncssh.SFTPNoSuchFile as err:
                raise FileNotFoundError(f"No folder {folder!r} on the SFTP server") from err
        return select_files(
            (
                (str(e.filename), e.attrs.permissions, e.attrs.size, e.attrs.mtime)
                for e in entries
                if e.filename not in (".", "..")
            ),
            patterns,
        )


async def _probe_fingerprint(host: str | None, port: int) -> str | None:
    """Fetch the server's host key fingerprint for the error message (best effort, short timeout)."""
    if not host:
        return None
    try:
        key = await asyncio.wait_for(asyncssh.get_server_host_key(host, port), timeout=5)
    except (OSError, asyncssh.Error, asyncio.TimeoutError):
        return None
    return _fingerprint(key)


def select_files(
    entries: Iterable[tuple[str, int | None, int | None, int | float | None]], patterns: Sequence[str]
) -> list[RemoteFile]:
    """Keep regular, non-``.part`` files matching any pattern, from ``(name, mode, size, mtime)`` rows."""
    selected = [
        RemoteFile(name=name, size=int(size or 0), mtime=int(mtime or 0))
        for name, mode, size, mtime in entries
        if not name.endswith(PART_SUFFIX)
        and (mode is None or stat.S_ISREG(mode))
        and any(fnmatch(name, p) for p in patterns)
    ]
    return sorted(selected, key=lambda f: f.name)


def _check_name(name: str) -> None:
    if not name or "/" in name or name in (".", ".."):
        raise ValueError(f"Not a plain file name: {name!r}")
