"""Download Flex's outbound files (acks, results), apply them to the ledger, archive them."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from flex_provider.operators.common import (
    LEDGER_CONN_ID,
    SFTP_CONN_ID,
)

if TYPE_CHECKING:
    from airflow.sdk import Context


class ProcessOutboundOperator(BaseOperator):
    """
    Download new outbound files (ack/result), apply them to the ledger, and archive them remotely.

    :param files: the files to process, as the sensor returns them (``[{"name", ...}]``) or plain names
        (templated; usually ``sensor.output``).
    :param local_dir: local folder for the downloads (templated); ``quarantine/`` below it holds bad files.
    :param archive_subdir: remote subfolder of the outbound folder for processed files.
    :param quarantine_subdir: remote subfolder for malformed files.
    :param ledger_conn_id: SQL connection of the ledger.
    :param sftp_conn_id: ``sftp`` connection of the exchange.
    """

    template_fields: Sequence[str] = ("files", "local_dir", "ledger_conn_id", "sftp_conn_id")
    ui_color = "#eaf2f8"

    def __init__(
        self,
        *,
        files: Sequence[Mapping[str, Any] | str] | None,
        local_dir: str,
        archive_subdir: str = "processed",
        quarantine_subdir: str = "quarantine",
        ledger_conn_id: str = LEDGER_CONN_ID,
        sftp_conn_id: str = SFTP_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.files = files
        self.local_dir = local_dir
        self.archive_subdir = archive_subdir
        self.quarantine_subdir = quarantine_subdir
        self.ledger_conn_id = ledger_conn_id
        self.sftp_conn_id = sftp_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from flex_provider.batch.ledger import FlexLedger
        from flex_provider.batch.outbound import process_outbound_files
        from flex_provider.hooks.sftp import FlexSftpHook

        names = sorted({f if isinstance(f, str) else f["name"] for f in (self.files or [])})
        ledger = FlexLedger(self.ledger_conn_id)
        done = ledger.processed_outbound_names()
        new = [n for n in names if n not in done]
        local = Path(self.local_dir)
        hook = FlexSftpHook(ssh_conn_id=self.sftp_conn_id)
        summary: dict[str, Any] = {
            "processed": [],
            "quarantined": [],
            "skipped": sorted(set(names) - set(new)),
        }
        with hook.get_managed_conn():
            paths = []
            for name in new:
                try:
                    paths.append(hook.download(name, local))
                except FileNotFoundError:
                    # Listed, then moved or deleted on the server: nothing to apply; a later listing decides.
                    self.log.warning("Outbound file %s vanished before download; skipped", name)
            if paths:
                summary = process_outbound_files(paths, ledger, local / "quarantine")
                summary["skipped"] = sorted(set(summary.get("skipped", [])) | (set(names) - set(new)))
            for name in summary.get("processed", []):
                hook.move_outbound(name, self.archive_subdir)
            for name in summary.get("quarantined", []):
                hook.move_outbound(name, self.quarantine_subdir)
            # Files processed earlier but still lying in the folder (a crash before the move): archive now.
            for name in set(names) & done:
                with contextlib.suppress(FileNotFoundError):  # another run archived it meanwhile
                    hook.move_outbound(name, self.archive_subdir)
        self.log.info(
            "Outbound: %d processed, %d quarantined, %d skipped",
            len(summary.get("processed", [])),
            len(summary.get("quarantined", [])),
            len(summary.get("skipped", [])),
        )
        return summary
