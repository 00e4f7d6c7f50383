"""List the outbound folder's finished ack/result files and process them (the reconcile DAG's first step)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from flex_provider.batch import OUTBOUND_PATTERNS
from flex_provider.operators.outbound import ProcessOutboundOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class CollectOutboundOperator(ProcessOutboundOperator):
    """
    Process every finished ack/result file lying in Flex's outbound folder (no waiting: a safety net).

    Files the ledger processed already are passed on too: the process step skips and archives them (e.g.
    the tail of a file read while it grew). A missing outbound folder means nothing to do.

    :param patterns: fnmatch patterns of the files to collect.
    :param local_dir: local folder for the downloads (templated); default
        ``<[flex] batch_dir>/outbound/<run id>``.

    Other arguments as :class:`ProcessOutboundOperator` (``ledger_conn_id``, ``sftp_conn_id``...).
    """

    def __init__(
        self, *, patterns: Sequence[str] = OUTBOUND_PATTERNS, local_dir: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(files=None, local_dir=local_dir or "", **kwargs)
        self.patterns = list(patterns)

    def execute(self, context: Context) -> dict[str, Any]:
        from flex_provider.hooks.sftp import FlexSftpHook
        from flex_provider.operators.extract import batch_root

        try:
            self.files = [f.name for f in FlexSftpHook(ssh_conn_id=self.sftp_conn_id).list_outbound(self.patterns)]
        except FileNotFoundError:
            self.files = []
        if not self.local_dir:
            run = str(context.get("run_id") or "manual").replace(":", "_").replace("+", "_")
            self.local_dir = str(batch_root() / "outbound" / run)
        return super().execute(context)
