"""``CollectOutboundOperator``: collects Flex's acks and results, with the process step's arguments."""

from __future__ import annotations

from flex_provider.batch import OUTBOUND_PATTERNS
from flex_provider.operators.collect import CollectOutboundOperator


def test_it_collects_acks_and_results_by_default_and_keeps_the_process_arguments() -> None:
    op = CollectOutboundOperator(task_id="collect", ledger_conn_id="led", sftp_conn_id="sftp_x", archive_subdir="done")
    assert op.patterns == list(OUTBOUND_PATTERNS) == ["ack_*.json", "result_*.json"]
    assert (op.files, op.local_dir) == (None, "")  # listed, and the folder named, when the task runs
    assert (op.ledger_conn_id, op.sftp_conn_id, op.archive_subdir) == ("led", "sftp_x", "done")
    assert CollectOutboundOperator(task_id="c", patterns=["result_*.json"]).patterns == ["result_*.json"]
