"""``ProcessAcksOperator``'s check: a file Flex rejected as a whole fails the run with what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException

from tests.unit.operators.ledger_day import NAMES, SHA, acknowledge, ledger_fixture, manifest_fixture  # noqa: F401 - fixtures


def test_a_file_rejected_as_a_whole_fails_the_check_with_the_merchant_message(ledger, manifest: Path) -> None:
    from flex_provider.models.batch import Manifest
    from flex_provider.operators.outbound import check_rejected_files

    body = Manifest.model_validate_json(manifest.read_text())
    for name in NAMES:
        ledger.mark_uploaded(name, remote_size=1, uploaded_sha256=SHA)
    acknowledge(ledger, NAMES[:1], "PROCESSED")
    assert check_rejected_files(ledger, body) == {"acknowledged": 1, "uploaded": 1}
    acknowledge(ledger, NAMES[1:], "REJECTED", "token expired")
    with pytest.raises(AirflowFailException, match=r"Flex rejected 1 file\(s\) as a whole") as e:
        check_rejected_files(ledger, body)
    assert NAMES[1] in str(e.value)
    assert "token expired" in str(e.value)
    assert "Re-run this day" in str(e.value)
