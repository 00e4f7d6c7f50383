"""
Atomic uploads: one file over the hook's paramiko connection (:func:`upload_one`, behind
``FlexSftpHook.upload_files``), or many over several SFTP channels of one SSH session (asyncssh), fed
while they run.

:meth:`FlexSftpHook.open_uploader` returns a :class:`ChannelUploader`: the caller :meth:`submit`\\s
files one by one (say, as soon as the ledger has recorded each) and collects :class:`UploadResult`\\s as
they finish; ``channels`` files are in flight at once, each on its own SFTP channel of the same SSH
connection. Each file is written as ``<name>.part`` (line 1 replaced if asked), its size on the server
is checked, and it is renamed (``posix-rename``, else the plain rename: ``sftp_rename``); a final name
already holding the expected size is left alone (``skipped``). The server's key is checked against the
``sftp`` connection's ``host_key`` pin (else ``~/.ssh/known_hosts``), never skipped; a key that does not
match raises :class:`FlexHostKeyMismatchError`.
"""

from __future__ import annotations

import asyncio
import hashlib
import posixpath
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import asyncssh

from flex_provider.hooks.sftp_rename import remote_size, rename_replacing, rename_replacing_async

if TYPE_CHECKING:
    from paramiko import SFTPClient

    from flex_provider.hooks.sftp import FlexSftpHook

_STOP = object()
BLOCK = 256 * 1024
CHUNK_SIZE = 1024 * 1024
PART_SUFFIX = ".part"
# Line 1 of an inbound JSON batch is the envelope; it is short, so a much longer "line" means a wrong file.
MAX_FIRST_LINE = 1024 * 1024


@dataclass(frozen=True)
class UploadResult:
    """
    Outcome of one file of :meth:`FlexSftpHook.upload_files`.

    :param name: final remote file name.
    :param remote_path: final remote path.
    :param local_path: the local source file.
    :param status: ``uploaded``, or ``skipped`` when the server already held the final name with the
        expected size (a rerun).
    :param size: bytes on the server under the final name.
    :param sha256: hex sha256 of the bytes sent (with line 1 replaced, if asked); None when skipped.
    """

    name: str
    remote_path: str
    local_path: str
    status: Literal["uploaded", "skipped"]
    size: int
    sha256: str | None


def _replace_first_line(src: Any, transform: Callable[[str], str]) -> bytes:
    """Read line 1 of ``src`` and return it transformed, with its original line ending kept."""
    line = src.readline(MAX_FIRST_LINE + 1)
    if len(line) > MAX_FIRST_LINE:
        raise ValueError(
            f"Line 1 of {getattr(src, 'name', 'the file')} is longer than {MAX_FIRST_LINE} bytes"
        )
    body = line.rstrip(b"\r\n")
    ending = line[len(body) :]
    return transform(body.decode("utf-8")).encode("utf-8") + ending


def upload_one(
    hook: FlexSftpHook,
    sftp: SFTPClient,
    local: Path,
    remote_dir: str,
    transform: Callable[[str], str] | None,
) -> UploadResult:
    """One file over paramiko: ``<name>.part``, size check, ``posix_rename``; see ``FlexSftpHook.upload_files``."""
    name = local.name
    final = posixpath.join(remote_dir, name)
    part = final + PART_SUFFIX
    local_size = local.stat().st_size
    with local.open("rb") as src:
        head = b""
        if transform is not None:
            head = _replace_first_line(src, transform)
        # `src` is now positioned after line 1 when transformed, at 0 otherwise.
        expected = len(head) + local_size - src.tell()
        existing = remote_size(sftp, final)
        if existing == expected:
            hook.log.info("Skipping %s: %s already holds %d bytes", name, final, existing)
            return UploadResult(name, final, str(local), "skipped", existing, None)
        if existing is not None:
            hook.log.warning(
                "%s exists with %d bytes, expected %d: uploading again", final, existing, expected
            )
        digest = hashlib.sha256()
        sent = 0
        with sftp.open(part, "wb") as dst:
            dst.set_pipelined(True)
            if head:
                dst.write(head)
                digest.update(head)
                sent += len(head)
            while chunk := src.read(CHUNK_SIZE):
                dst.write(chunk)
                digest.update(chunk)
                sent += len(chunk)
    held = sftp.stat(part).st_size
    if held != sent:
        raise OSError(f"Upload of {name} incomplete: sent {sent} bytes, server holds {held}")
    rename_replacing(sftp, part, final)
    hook.log.info("Uploaded %s (%d bytes) to %s", name, sent, final)
    return UploadResult(name, final, str(local), "uploaded", sent, digest.hexdigest())


def connect_options(hook: FlexSftpHook) -> dict[str, Any]:
    """asyncssh ``connect`` options for the hook's connection; the server's key is always verified."""
    options: dict[str, Any] = {
        "host": hook.remote_host,
        "port": hook.port or 22,
        "username": hook.username,
        "connect_timeout": hook.conn_timeout,
        "compression_algs": None,
    }
    # The host key is always checked: against the connection's ``host_key`` pin, else known_hosts.
    if hook.host_key is not None:
        key = asyncssh.import_public_key(f"{hook.host_key.get_name()} {hook.host_key.get_base64()}")
        options["known_hosts"] = ([key], [], [])
    if hook.password:
        options["password"] = hook.password.strip()
    extra = hook.get_connection(hook.ssh_conn_id).extra_dejson if hook.ssh_conn_id else {}
    if extra.get("private_key"):
        options["client_keys"] = [
            asyncssh.import_private_key(extra["private_key"], extra.get("private_key_passphrase"))
        ]
    elif hook.key_file:
        options["client_keys"] = [hook.key_file]
        if hook.key_passphrase:
            options["passphrase"] = hook.key_passphrase
    return options


class ChannelUploader:
    """A background SSH session with ``channels`` SFTP channels uploading the files it is given."""

    def __init__(
        self,
        hook: FlexSftpHook,
        *,
        channels: int = 4,
        remote_dir: str,
        transform_first_line: Callable[[str], str] | None = None,
    ) -> None:
        self.hook = hook
        self.channels = max(1, int(channels))
        self.remote_dir = remote_dir
        self.transform = transform_first_line
        self._done: queue.Queue[Any] = queue.Queue()
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._todo: asyncio.Queue[Any] | None = None
        self._error: BaseException | None = None
        self._submitted = self._finished = 0
        self._options = connect_options(hook)
        self._thread = threading.Thread(target=self._run, name="flex-sftp-upload", daemon=True)

    def __enter__(self) -> ChannelUploader:  # noqa: PYI034 - final class
        self._thread.start()
        self._ready.wait()
        self._raise()
        return self

    def __exit__(self, *exc: object) -> None:
        for _ in range(self.channels):
            self._put(_STOP)
        self._thread.join()

    # -- caller side ---------------------------------------------------------------------------

    def submit(self, local: str | Path) -> None:
        """Queue one file; it starts as soon as a channel is free."""
        self._raise()
        self._submitted += 1
        self._put(Path(local))

    def finished(self) -> Iterator[UploadResult]:
        """The results that are ready now (without waiting)."""
        while True:
            try:
                item = self._done.get_nowait()
            except queue.Empty:
                self._raise()
                return
            yield self._take(item)

    def wait_all(self) -> Iterator[UploadResult]:
        """Every result not yet collected, waiting for the uploads still running."""
        while self._finished < self._submitted:
            yield self._take(self._done.get())

    def take(self, timeout: float | None = None) -> list[UploadResult]:
        """Wait up to ``timeout`` seconds for one result, then every other one ready now ([] on timeout)."""
        try:
            first = self._done.get(timeout=timeout)
        except queue.Empty:
            self._raise()
            return []
        return [self._take(first), *self.finished()]

    @property
    def pending(self) -> int:
        """Files submitted whose result was not collected yet."""
        return self._submitted - self._finished

    def _take(self, item: Any) -> UploadResult:
        if isinstance(item, BaseException):
            self._error = item
            self._raise()
        self._finished += 1
        return item  # type: ignore[no-any-return]

    def _put(self, item: Any) -> None:
        if self._loop is not None and self._todo is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._todo.put_nowait, item)

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    # -- the session thread --------------------------------------------------------------------

    def _run(self) -> None:
        try:
            asyncio.run(self._session())
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            self._error = self._error or exc
            self._done.put(exc)
        finally:
            self._ready.set()

    async def _session(self) -> None:
        from flex_provider.hooks.sftp import host_key_error

        self._loop = asyncio.get_running_loop()
        self._todo = asyncio.Queue()
        try:
            conn = await asyncssh.connect(**self._options)
        except asyncssh.HostKeyNotVerifiable as err:
            raise host_key_error(
                self.hook.remote_host,
                self.hook.port,
                fingerprint=None,
                conn_id=self.hook.ssh_conn_id,
                reason=f"the key does not match the pinned one: {err.reason}",
            ) from err
        async with conn:
            clients = [await conn.start_sftp_client() for _ in range(self.channels)]
            self._ready.set()
            # Each worker stops at a stop mark; the caller queues one a worker behind its files.
            await asyncio.gather(*(self._worker(c) for c in clients))
            for client in clients:
                client.exit()

    async def _worker(self, sftp: asyncssh.SFTPClient) -> None:
        assert self._todo is not None
        while True:
            item = await self._todo.get()
            if item is _STOP:
                return
            try:
                self._done.put(await self._upload(sftp, item))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                self._done.put(exc)

    async def _upload(self, sftp: asyncssh.SFTPClient, local: Path) -> UploadResult:
        name = local.name
        final = posixpath.join(self.remote_dir, name)
        part = final + ".part"
        data = await asyncio.to_thread(local.read_bytes)  # a batch file is at most 2000 rows (a few MB)
        if self.transform is not None:
            head = _replace_first_line(_Lines(data), self.transform)
            data = head + data[len(data.split(b"\n", 1)[0]) + (1 if b"\n" in data else 0) :]
        try:
            existing = (await sftp.stat(final)).size
        except asyncssh.SFTPNoSuchFile:
            existing = None
        if existing == len(data):
            self.hook.log.info("Skipping %s: %s already holds %d bytes", name, final, existing)
            return UploadResult(name, final, str(local), "skipped", existing, None)
        async with sftp.open(part, "wb") as dst:
            await dst.write(data)
        size = (await sftp.stat(part)).size
        if size != len(data):
            raise OSError(f"Upload of {name} incomplete: sent {len(data)} bytes, server holds {size}")
        await rename_replacing_async(sftp, part, final)
        self.hook.log.info("Uploaded %s (%d bytes) to %s", name, len(data), final)
        return UploadResult(name, final, str(local), "uploaded", len(data), hashlib.sha256(data).hexdigest())


class _Lines:
    """A tiny file-like view of bytes for ``_replace_first_line`` (``readline`` only)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def readline(self, limit: int) -> bytes:
        end = self.data.find(b"\n")
        line = self.data if end < 0 else self.data[: end + 1]
        return line[:limit]
