"""
Download Flex's outbound files (acks, results), apply them to the ledger, archive them.

:class:`ProcessAcksOperator` is the daily DAG's step: the same, then it fails the run on a file Flex rejected
as a whole.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from flex_provider.operators.common import (
    LEDGER_CONN_ID,
    SFTP_CONN_ID,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from flex_provider.batch.ledger import FlexLedger
    from flex_provider.models.batch import Manifest


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


def check_rejected_files(ledger: FlexLedger, manifest: Manifest) -> dict[str, int]:
    """
    Raise :class:`AirflowFailException` when Flex rejected a file of the manifest's day as a whole.

    A whole-file rejection (an expired token, an unreadable file) leaves its rows unsent: the run must
    not look green. The message tells the merchant what to do; re-running the day resends the file with a
    fresh token. Otherwise return the day's files counted by ledger state.
    """
    day = manifest.business_date
    files = ledger.files_for_day(manifest.mid, manifest.kind, day)
    rejected = {f["name"]: f["ack_error"] for f in files if f["ack_status"] == "REJECTED"}
    if rejected:
        raise AirflowFailException(
            f"Flex rejected {len(rejected)} file(s) as a whole: {rejected}. Re-run this day (clear the "
            "run, or backfill with --reprocess-behavior failed): the ship step uploads them again "
            "with a fresh token."
        )
    return dict(Counter(f["state"] for f in files))


class ProcessAcksOperator(ProcessOutboundOperator):
    """
    Process a run's ack files like :class:`ProcessOutboundOperator`, then check the manifest's day.

    Every ack is applied (and archived) first; then the task fails when Flex rejected a file of the day
    as a whole (:func:`check_rejected_files`), so the merchant sees it on the run, not in a log.

    :param manifest: path of the manifest of the run (templated; ``extract.output["manifest"]``).

    Other arguments as :class:`ProcessOutboundOperator` (``files``, ``local_dir``...); ``local_dir``
    defaults to ``outbound/`` next to the manifest.
    """

    template_fields: Sequence[str] = (*ProcessOutboundOperator.template_fields, "manifest")

    def __init__(self, *, manifest: Any, local_dir: str | None = None, **kwargs: Any) -> None:
        super().__init__(local_dir=local_dir or "", **kwargs)
        self.manifest = manifest

    def execute(self, context: Context) -> dict[str, Any]:
        from flex_provider.batch.ledger import FlexLedger
        from flex_provider.batch.manifest import read_manifest

        if not self.local_dir:
            self.local_dir = str(Path(self.manifest).parent / "outbound")
        summary = super().execute(context)
        files = check_rejected_files(FlexLedger(self.ledger_conn_id), read_manifest(self.manifest))
        self.log.info("Files of the day by state: %s", files)
        return summary
