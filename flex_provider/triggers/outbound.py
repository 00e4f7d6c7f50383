"""Trigger that waits for new, finished files in the Flex outbound SFTP folder."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from flex_provider.batch import OUTBOUND_PATTERNS
from flex_provider.exceptions import FlexHostKeyMismatchError

if TYPE_CHECKING:
    from flex_provider.hooks.sftp import FlexSftpAsyncHook, RemoteFile



def _asyncssh_error() -> type[Exception]:
    import asyncssh

    return asyncssh.Error


class FlexOutboundFileTrigger(BaseTrigger):
    """
    Wait until the outbound folder holds new, complete files; only lists, never reads or moves.

    A file counts when its name matches one of ``patterns``, does not end in ``.part``, is not in
    ``exclude``, and has the same size and mtime in two consecutive listings (a file still being
    written is skipped until it stops growing). With ``expect``, it fires only once every expected name
    is among the complete files, so one event carries a whole run's acknowledgements. Fires one event:
    ``{"status": "success", "files": [{"name", "size", "mtime"}, ...]}`` or
    ``{"status": "error", "error_type": ..., "message": ...}``.

    :param sftp_conn_id: the ``sftp`` connection (with ``host_key`` pinned).
    :param patterns: fnmatch patterns of wanted names, e.g. ``ack_*.json``.
    :param exclude: names already processed; never returned.
    :param expect: names that must all be complete before the event fires (empty: any new file).
    :param outbound_dir: overrides the connection's ``outbound_dir`` extra.
    :param poke_interval: seconds between listings while nothing matches.
    :param settle_interval: seconds before the confirming listing once candidates are seen.
    :param max_consecutive_failures: connection errors in a row tolerated before an error event.
    """

    def __init__(
        self,
        *,
        sftp_conn_id: str = "flex_sftp_default",
        patterns: Iterable[str] = OUTBOUND_PATTERNS,
        exclude: Iterable[str] = (),
        expect: Iterable[str] = (),
        outbound_dir: str | None = None,
        poke_interval: float = 60.0,
        settle_interval: float = 5.0,
        max_consecutive_failures: int = 3,
    ) -> None:
        super().__init__()
        self.sftp_conn_id = sftp_conn_id
        self.patterns = list(patterns)
        self.exclude = sorted(set(exclude))
        self.expect = sorted(set(expect))
        self.outbound_dir = outbound_dir
        self.poke_interval = float(poke_interval)
        self.settle_interval = float(settle_interval)
        self.max_consecutive_failures = int(max_consecutive_failures)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the classpath and plain-data kwargs to rebuild this trigger."""
        return (
            f"{self.__class__.__module__}.{self.__class__.__name__}",
            {
                "sftp_conn_id": self.sftp_conn_id,
                "patterns": list(self.patterns),
                "exclude": list(self.exclude),
                "expect": list(self.expect),
                "outbound_dir": self.outbound_dir,
                "poke_interval": self.poke_interval,
                "settle_interval": self.settle_interval,
                "max_consecutive_failures": self.max_consecutive_failures,
            },
        )

    def _hook(self) -> FlexSftpAsyncHook:
        from flex_provider.hooks.sftp import FlexSftpAsyncHook

        return FlexSftpAsyncHook(sftp_conn_id=self.sftp_conn_id, outbound_dir=self.outbound_dir)

    async def _list(self) -> list[RemoteFile]:
        """List candidate files once, on a fresh connection (a missing folder counts as empty)."""
        excluded = set(self.exclude)
        try:
            files = await self._hook().list_outbound(self.patterns)
        except FileNotFoundError:
            self.log.info("Outbound folder not there yet")
            return []
        return [f for f in files if f.name not in excluded]

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """List until files are seen unchanged in two consecutive listings, then fire once."""
        previous: dict[str, tuple[int, int]] | None = None
        failures = 0
        while True:
            try:
                current = await self._list()
                failures = 0
            except FlexHostKeyMismatchError as err:
                yield TriggerEvent(
                    {"status": "error", "error_type": "host_key_mismatch", "message": str(err)}
                )
                return
            except (OSError, _asyncssh_error()) as err:
                failures += 1
                if failures >= self.max_consecutive_failures:
                    yield TriggerEvent(
                        {
                            "status": "error",
                            "error_type": "connection",
                            "message": f"Listing the outbound folder failed {failures} times: {err!r}",
                        }
                    )
                    return
                self.log.warning("Listing the outbound folder failed (%d): %r", failures, err)
                previous = None
                await asyncio.sleep(self.poke_interval)
                continue
            except Exception as err:  # noqa: BLE001 - report it to the task as an error event
                yield TriggerEvent({"status": "error", "error_type": type(err).__name__, "message": str(err)})
                return
            if previous is not None:
                stable = [f for f in current if previous.get(f.name) == (f.size, f.mtime)]
                missing = sorted(set(self.expect) - {f.name for f in stable})
                if stable and missing:
                    self.log.info("%d file(s) ready, still waiting for %s", len(stable), missing[:10])
                elif stable:
                    self.log.info("Found %d new outbound file(s)", len(stable))
                    yield TriggerEvent({"status": "success", "files": [f.to_dict() for f in stable]})
                    return
            previous = {f.name: (f.size, f.mtime) for f in current}
            await asyncio.sleep(self.settle_interval if current else self.poke_interval)
