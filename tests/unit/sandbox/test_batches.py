"""``flex_provider.sandbox.batches``: Flex's side of an inbound batch file: validate, run rows, ack, archive.

A real ``BatchProcessor`` on a tmp SFTP root (no SFTP server: files are put into ``inbound/`` directly)
around a real ``SandboxState``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flex_provider.sandbox.batches import BatchProcessor
from flex_provider.sandbox.state import SandboxState
from tests.unit.sandbox.support import bearer, mit_row


@pytest.fixture
def env(tmp_path: Path):
    state = SandboxState(tmp_path / "state", seed=6, clock_speed=0)
    root = tmp_path / "sftp"
    (root / "merchant" / "inbound").mkdir(parents=True)
    processor = BatchProcessor(state, root, accounts={"merchant": state.merchant.mid})
    yield state, processor, root / "merchant"
    processor.close()
    state.close()


def evaluate_file(state: SandboxState, rows: list[dict], **envelope) -> bytes:
    doc = {"fileType": "evaluate", "schemaVersion": 1, "mid": state.merchant.mid,
           "authorizationToken": f"Bearer {bearer(state)}", "rowCount": len(rows), **envelope, "rows": rows}
    return json.dumps(doc).encode()


def read_ack(home: Path, inbound: str) -> tuple[dict, list[dict]]:
    doc = json.loads((home / "outbound" / f"ack_{inbound.rsplit('.', 1)[0]}.json").read_text())
    return doc, doc.pop("rows")


def test_a_good_file_gets_an_ack_per_row_its_orders_and_is_archived(env) -> None:
    state, processor, home = env
    path = home / "inbound" / "evaluate_20260101_0001.json"
    path.write_bytes(evaluate_file(state, [mit_row(state, "sub-a", seq=1), mit_row(state, "sub-b", seq=2)]))
    assert processor.process_file(path) == "ack_evaluate_20260101_0001.json"
    ack, rows = read_ack(home, path.name)
    assert (ack["status"], ack["accepted"], ack["rejected"]) == ("PROCESSED", 2, 0)
    assert [(r["orderId"], r["status"]) for r in rows] == [("sub-a", "SUBMITTED"), ("sub-b", "SUBMITTED")]
    orders = {o["external_order_id"]: o for o in state.raw_orders()}
    assert sorted(orders) == ["sub-a", "sub-b"]
    assert orders["sub-a"]["source"] == "sftp"
    assert rows[0]["orderSessionKey"] == orders["sub-a"]["id"]
    assert not path.exists()
    assert (home / "archive" / path.name).exists()


def test_rows_out_of_sequence_for_another_mid_or_refused_by_the_fault_are_rejected(env) -> None:
    state, processor, home = env
    processor.refuse_orders = {"sub-refused"}
    rows = [mit_row(state, "sub-ok", seq=1), mit_row(state, "sub-seq", seq=5),
            {**mit_row(state, "sub-mid", seq=3), "mid": "other-mid"}, mit_row(state, "sub-refused", seq=4)]
    path = home / "inbound" / "evaluate_rows.json"
    path.write_bytes(evaluate_file(state, rows))
    processor.process_file(path)
    ack, acked = read_ack(home, path.name)
    assert (ack["accepted"], ack["rejected"]) == (1, 3)
    fields = {r["orderId"]: [e["field"] for e in r["errors"]] for r in acked if r["status"] == "REJECTED"}
    assert fields == {"sub-seq": ["SequenceNumber"], "sub-mid": ["Mid"], "sub-refused": ["PaymentMethod"]}
    assert [o["external_order_id"] for o in state.raw_orders()] == ["sub-ok"]


def test_a_file_with_a_bad_token_is_rejected_whole_and_quarantined_with_its_reason(env) -> None:
    state, processor, home = env
    raw = evaluate_file(state, [mit_row(state, "sub-x", seq=1)], authorizationToken="Bearer forged")
    path = home / "inbound" / "evaluate_forged.json"
    path.write_bytes(raw)
    processor.process_file(path)
    ack, rows = read_ack(home, path.name)
    assert (ack["status"], ack["fileErrors"][0]["code"], rows) == ("REJECTED", "invalid_token", [])
    reason = json.loads((home / "quarantine" / "evaluate_forged.json.reason").read_text())
    assert reason[0]["code"] == "invalid_token"
    assert state.raw_orders() == []


def test_the_same_rows_uploaded_again_get_the_same_ack_and_no_second_order(env) -> None:
    state, processor, home = env
    rows = [mit_row(state, "sub-again", seq=1)]
    path = home / "inbound" / "evaluate_again.json"
    path.write_bytes(evaluate_file(state, rows))
    processor.process_file(path)
    first = (home / "outbound" / "ack_evaluate_again.json").read_bytes()
    state.clock.advance(60)  # a second run would say a later receivedAtUtc
    path.write_bytes(evaluate_file(state, rows))  # the shipper re-uploads with a fresh token
    processor.process_file(path)
    assert (home / "outbound" / "ack_evaluate_again.json").read_bytes() == first
    assert len(state.raw_orders()) == 1
    assert sorted(p.name for p in (home / "archive").iterdir()) == ["evaluate_again.json", "evaluate_again.json.1"]


def test_pick_up_skips_part_files_and_waits_until_a_file_stops_changing(env) -> None:
    state, processor, home = env
    (home / "inbound" / "evaluate_big.json.part").write_bytes(b"{")
    (home / "inbound" / "notes.txt").write_text("x")
    path = home / "inbound" / "evaluate_done.json"
    path.write_bytes(evaluate_file(state, [mit_row(state, "sub-done", seq=1)]))
    assert [p.name for p in processor.pending_files()] == ["evaluate_done.json"]
    assert processor.process_pending() == []  # first sight: size and mtime noted
    assert processor.process_pending() == ["ack_evaluate_done.json"]  # unchanged since: complete
    processor.paused = True
    (home / "inbound" / "evaluate_later.json").write_bytes(b"{}")
    assert processor.process_pending() == []
    assert processor.process_pending() == []
