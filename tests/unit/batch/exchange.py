"""
A folder standing in for Flex's SFTP inbound directory, for the unit tests of the ship pipelines.

It takes the place of :class:`~flex_provider.hooks.sftp_upload.ChannelUploader` (same methods), writes
each file with line 1 transformed, skips a file already there with the same size (as the real uploader
does on a rerun), and notes the ledger state of each file at the moment it is sent. The real SFTP path
is tested against sshd and the sandbox in ``tests/batch/test_upload.py`` and ``tests/faults``.
"""

from __future__ import annotations

import hashlib
import queue
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flex_provider.hooks.sftp_upload import UploadResult


class FolderUploader:
    """The uploader protocol the pipelines use, on a local folder; uploads run on ``submit``."""

    def __init__(self, exchange: FolderExchange, transform: Callable[[str], str]) -> None:
        self.exchange = exchange
        self.transform = transform
        self._done: queue.Queue[UploadResult | Exception] = queue.Queue()
        self._submitted = self._finished = 0

    def submit(self, local: str | Path) -> None:
        self._submitted += 1
        try:
            self._done.put(self.exchange.send(Path(local), self.transform))
        except Exception as exc:  # noqa: BLE001 - raised to the collector, as the real uploader does
            self._done.put(exc)

    def _take(self, item: UploadResult | Exception) -> UploadResult:
        self._finished += 1
        if isinstance(item, Exception):
            raise item
        return item

    def finished(self) -> Iterator[UploadResult]:
        while True:
            try:
                item = self._done.get_nowait()
            except queue.Empty:
                return
            yield self._take(item)

    def wait_all(self) -> Iterator[UploadResult]:
        yield from self.finished()

    def take(self, timeout: float | None = None) -> list[UploadResult]:
        try:
            first = self._done.get(timeout=timeout)
        except queue.Empty:
            return []
        return [self._take(first), *self.finished()]

    @property
    def pending(self) -> int:
        return self._submitted - self._finished


class FolderExchange:
    """``hook`` for the pipelines: ``open_uploader`` on ``inbound``; ``sent`` maps name -> ledger state then."""

    def __init__(self, inbound: Path, ledger: Any) -> None:
        self.inbound = inbound
        self.ledger = ledger
        self.sent: dict[str, str | None] = {}
        inbound.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def open_uploader(
        self, *, channels: int, transform_first_line: Callable[[str], str]
    ) -> Iterator[FolderUploader]:
        del channels
        yield FolderUploader(self, transform_first_line)

    def send(self, local: Path, transform: Callable[[str], str]) -> UploadResult:
        raw = local.read_bytes()
        first, sep, rest = raw.partition(b"\n")
        ending = b"\r" if first.endswith(b"\r") else b""
        data = transform(first.rstrip(b"\r").decode("utf-8")).encode("utf-8") + ending + sep + rest
        target = self.inbound / local.name
        if target.is_file() and target.stat().st_size == len(data):
            return UploadResult(local.name, str(target), str(local), "skipped", len(data), None)
        self.sent[local.name] = self.ledger.file_state(local.name)
        target.write_bytes(data)
        return UploadResult(
            local.name, str(target), str(local), "uploaded", len(data), hashlib.sha256(data).hexdigest()
        )
