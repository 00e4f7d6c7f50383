"""Download Flex's outbound files (acks, results), apply them to the ledger, archive them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
        from flex_provider.batch.inbox import collect_outbound
        from flex_provider.batch.ledger import FlexLedger
        from flex_provider.hooks.sftp import FlexSftpHook

        summary = collect_outbound(
            [f if isinstance(f, str) else f["name"] for f in (self.files or [])],
            hook=FlexSftpHook(ssh_conn_id=self.sftp_conn_id),
            ledger=FlexLedger(self.ledger_conn_id),
            local_dir=self.local_dir,
            archive_subdir=self.archive_subdir,
            quarantine_subdir=self.quarantine_subdir,
        )
        self.log.info(
            "Outbound: %d processed, %d quarantined, %d skipped", len(summary.get("processed", [])),
            len(summary.get("quarantined", [])), len(summary.get("skipped", [])),
        )  # fmt: skip
        return summary
