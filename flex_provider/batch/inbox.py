"""
Flex's outbound folder, applied once: download the new files, apply them to the ledger, tidy the folder.

:func:`collect_outbound` is the outbound step without Airflow. A file the ledger already processed is
not downloaded again (a rerun applies nothing twice) but still archived on the server when it was left
there (a crash before the move); a file listed and then gone before its download is skipped (the next
listing decides); a malformed file is quarantined on the server, the others archived.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from flex_provider.batch.outbound import process_outbound_files

log = logging.getLogger(__name__)


def collect_outbound(
    names: Iterable[str],
    *,
    hook: Any,
    ledger: Any,
    local_dir: str | Path,
    archive_subdir: str = "processed",
    quarantine_subdir: str = "quarantine",
) -> dict[str, Any]:
    """
    Download, apply and move the outbound files ``names``.

    :param hook: a :class:`~flex_provider.hooks.sftp.FlexSftpHook` (``download``, ``move_outbound``).
    :param ledger: a :class:`~flex_provider.ledger.FlexLedger`.
    :param local_dir: local folder for the downloads; ``quarantine/`` below it keeps malformed files.
    :return: ``processed``, ``quarantined``, ``skipped`` (names) and the per-kind counts of
        :func:`~flex_provider.batch.outbound.process_outbound_files` when anything was applied.
    """
    names = sorted(set(names))
    done = ledger.processed_outbound_names()
    new = [n for n in names if n not in done]
    local = Path(local_dir)
    summary: dict[str, Any] = {"processed": [], "quarantined": [], "skipped": sorted(set(names) - set(new))}
    with hook.get_managed_conn():
        paths = []
        for name in new:
            try:
                paths.append(hook.download(name, local))
            except FileNotFoundError:
                log.warning("Outbound file %s vanished before download; skipped", name)
        if paths:
            summary = process_outbound_files(paths, ledger, local / "quarantine")
            summary["skipped"] = sorted(set(summary.get("skipped", [])) | (set(names) - set(new)))
        for name in summary.get("processed", []):
            hook.move_outbound(name, archive_subdir)
        for name in summary.get("quarantined", []):
            hook.move_outbound(name, quarantine_subdir)
        for name in set(names) & done:  # processed earlier, still in the folder: archive now
            with contextlib.suppress(FileNotFoundError):  # another run archived it meanwhile
                hook.move_outbound(name, archive_subdir)
    return summary
