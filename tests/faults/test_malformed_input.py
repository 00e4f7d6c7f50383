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
    truncated, not_utf8 = f"result_{mid}_{stamp}_9901.json", f"result_{mid}_{stamp}_9902.json"
    unknown_ack, unknown_orders = f"ack_evaluate_{mid}_19990101_0001.json", f"result_{mid}_{stamp}_9903.json"
    # A result file that is still growing when it is read: the sandbox writes it under its final name in
    # 4 chunks, 2 s apart, so it is incomplete for 6 s after it appears; the test reads it at once.
    world.sandbox.admin("POST", "/sftp/faults", {"slow_results": 2.0})
    world.sandbox.advance(25 * 86400)
    deadline = time.monotonic() + 20
    growing: list[str] = []
    while not growing and time.monotonic() < deadline:
        growing = [p.name for p in out.glob("result_*.json") if p.name not in bad]
        time.sleep(0.05)
    assert growing, "no result file appeared"
    # What the test broke is what must be quarantined, and nothing else.
    world.expected_quarantine |= {truncated, not_utf8, *growing}
    summary = world.process_outbound(sorted(bad) + growing)
    world.sandbox.admin("POST", "/sftp/faults/reset")
    assert sorted(summary["quarantined"]) == sorted(world.expected_quarantine)
    assert unknown_ack in summary["processed"]  # applied: counts it unknown
    assert unknown_orders in summary["processed"]  # unknown order: counted, not applied
    folder = world.base / "outbound_downloads" / "quarantine"
    reasons = {p.name.removesuffix(".reason.txt"): p.read_text() for p in folder.glob("*.reason.txt")}
    assert sorted(reasons) == sorted(world.expected_quarantine)
    assert "truncated" in reasons[truncated] or "not JSON" in reasons[truncated], reasons[truncated]
    assert "UTF-8" in reasons[not_utf8], reasons[not_utf8]
    for name in growing:  # cut somewhere inside: any of the reasons an incomplete file gets
        assert any(r in reasons[name] for r in ("truncated", "not JSON", "not a JSON")), reasons[name]
    world.wait_results_flushed()
    world.process_results()
    world.reconcile()  # the sweep asks Flex about what the quarantined growing file held
    counts = check_invariants(world, final=True)
    assert counts["approved"] + counts["expired"] == 10
    assert FlexLedger("flex_ledger_db").rows_for_orders(mid, "evaluate", ["never-shipped-1"]) == {}
