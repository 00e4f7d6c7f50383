"""``flex_provider.sandbox.batch_admin``: ``/_sandbox/sftp`` sets the batch faults and processes files now.

The router around a real ``BatchProcessor`` (tmp SFTP root, real ``SandboxState``), in-process ``TestClient``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from flex_provider.sandbox.batch_admin import admin_router
from flex_provider.sandbox.batches import BatchProcessor
from flex_provider.sandbox.state import SandboxState
from tests.unit.sandbox.support import bearer, mit_row


@pytest.fixture
def env(tmp_path: Path):
    state = SandboxState(tmp_path / "state", seed=9, clock_speed=0)
    root = tmp_path / "sftp"
    (root / "merchant" / "inbound").mkdir(parents=True)
    processor = BatchProcessor(state, root, accounts={"merchant": state.merchant.mid})
    app = FastAPI()
    app.include_router(admin_router(processor), prefix="/_sandbox/sftp")
    with TestClient(app) as client:
        yield state, processor, root / "merchant", client
    processor.close()
    state.close()


def test_faults_are_set_checked_and_reset(env) -> None:
    _, processor, _, client = env
    body = client.post("/_sandbox/sftp/faults", json={"slow_results": 0.5, "paused": True,
                                                      "refuse_orders": ["sub-1"], "cut_session_after_bytes": 100})
    assert (body.status_code, body.json()["paused"], body.json()["cut_session_after_bytes"]) == (200, True, 100)
    assert (processor.slow_results, processor.refuse_orders) == (0.5, {"sub-1"})
    assert processor.control.cut_session_after_bytes == 100
    refused = client.post("/_sandbox/sftp/faults", json={"pause": True})
    assert refused.status_code == 422
    assert "pause" in refused.text
    client.post("/_sandbox/sftp/faults/reset")
    assert (processor.paused, processor.refuse_orders, processor.control.cut_session_after_bytes) == (
        False, set(), None)


def test_process_now_acks_a_complete_file_and_writes_due_results(env) -> None:
    state, _processor, home, client = env
    doc = {"fileType": "evaluate", "mid": state.merchant.mid, "authorizationToken": f"Bearer {bearer(state)}",
           "rows": [mit_row(state, "sub-now", seq=1)]}
    (home / "inbound" / "evaluate_now.json").write_text(json.dumps(doc))
    body = client.post("/_sandbox/sftp/process").json()
    assert body == {"acks": ["ack_evaluate_now.json"], "results": []}
    assert client.get("/_sandbox/sftp/status").json()["processed_files"] == {"PROCESSED": 1}
