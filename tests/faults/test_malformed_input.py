"""
Fault 5: malformed outbound input (truncated JSON, non-UTF-8 bytes, an ack for an unknown file, result
rows for unknown orders, a result file still growing) is quarantined with a clear reason, the rest is
processed, and nothing is lost: the sweep (GET /orders) recovers what a quarantined file held.
"""

from __future__ import annotations

import json
import time

from flex_provider.batch.ledger import FlexLedger
from tests.faults.invariants import check_invariants


def test_malformed_outbound_files_are_quarantined_and_the_rest_processed(make_world, sandbox_factory) -> None:
    # its own sandbox: a slowly written result file must not spill into the next test's outbound folder
    world = make_world(sandbox=sandbox_factory("--seed", "13"))
    day = world.business_day()
    world.add_declines(day, 10)
    world.ship_day(day)
    out = world.sftp_root / "outbound"
    mid = world.mid
    stamp = world.sandbox.now().strftime("%Y%m%d%H%M%S")
    bad = {
        f"result_{mid}_{stamp}_9901.json": b'{"fileType":"result","mid":"' + mid.encode() + b'","generatedAtUtc":"2026-12-01T10:00:00Z","fileNumber":9901,"rowCount":2,"rows":[\n{"orderId":"x"',
        f"result_{mid}_{stamp}_9902.json": b'{"fileType":"result","mid":"' + mid.encode() + b'","rows":[\xff\xfe\x00bad]}\n',
        f"ack_evaluate_{mid}_19990101_0001.json": json.dumps({"fileType": "ack", "inboundFile": f"evaluate_{mid}_19990101_0001.json", "mid": mid, "receivedAtUtc": "2026-11-25T00:00:00Z", "status": "PROCESSED", "rowCount": 0, "accepted": 0, "rejected": 0, "fileErrors": [], "rows": []}).encode(),
        f"result_{mid}_{stamp}_9903.json": json.dumps({"fileType": "result", "mid": mid, "generatedAtUtc": "2026-12-01T10:00:00Z", "fileNumber": 9903, "rowCount": 1, "rows": [{"orderId": "never-shipped-1", "orderSessionKey": "k", "status": "APPROVED", "confirmationId": "ABCD1234", "amount": 100, "currency": "USD", "timestampUtc": "2026-12-01T10:00:00Z"}]}).encode(),
    }  # fmt: skip
    for name, data in bad.items():
        (out / name).write_bytes(data)
    world.expected_quarantine |= {n for n in bad if n.endswith(("_9901.json", "_9902.json"))}
    # a result file that is still growing when it is read (the sandbox writes it slowly under its final name)
    world.sandbox.admin("POST", "/sftp/faults", {"slow_results": 0.6})
    world.sandbox.advance(25 * 86400)
    deadline = time.monotonic() + 20
    growing: list[str] = []
    while not growing and time.monotonic() < deadline:
        growing = [p.name for p in out.glob("result_*.json") if p.name not in bad]
        time.sleep(0.05)
    assert growing, "no result file appeared"
    summary = world.process_outbound(sorted(bad) + growing)
    world.expected_quarantine |= set(summary["quarantined"]) & set(growing)
    world.sandbox.admin("POST", "/sftp/faults/reset")
    assert set(summary["quarantined"]) >= {n for n in bad if n.endswith(("_9901.json", "_9902.json"))}
    assert f"ack_evaluate_{mid}_19990101_0001.json" in summary["processed"]  # applied: counts it unknown
    assert f"result_{mid}_{stamp}_9903.json" in summary["processed"]  # unknown order: counted, not applied
    reasons = {
        p.name: p.read_text() for p in (world.base / "outbound_downloads" / "quarantine").glob("*.reason.txt")
    }
    assert any("truncated" in r or "not JSON" in r for r in reasons.values()), reasons
    assert any("UTF-8" in r for r in reasons.values()), reasons
    world.wait_results_flushed()
    world.process_results()
    world.reconcile()  # the sweep asks Flex about what the quarantined growing file held
    counts = check_invariants(world, final=True)
    assert counts["approved"] + counts["expired"] == 10
    assert FlexLedger("flex_ledger_db").rows_for_orders(mid, "evaluate", ["never-shipped-1"]) == {}
