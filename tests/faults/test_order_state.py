"""
One owner for an order's state (issue 13): the cases a new user found, each a test that failed before.

1. A rerun of a day re-pended an order Flex's ack had refused.
3. A result file read while it grows, together with webhooks, left ledger rows SUBMITTED for good.
5. The overdue sweep asked Flex order by order, and stamped the outcome with the local clock.

Written against the harness API both designs share (``ship_day``, ``reconcile``, ``process_results``), so
the same file runs on the old code to show each failure.
"""

from __future__ import annotations

import math
import time
from datetime import datetime, timezone

from flex_provider.webhooks.app import WebhookSettings, create_app
from tests.faults.harness import SETTLE_SECONDS
from tests.faults.invariants import check_invariants


def _first_rows(world) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for row in world.merchant_rows():
        out.setdefault(row["order_id"], row)
    return out


def test_rerun_keeps_an_order_flex_refused_declined(make_world) -> None:
    """Case 1: Flex's ack refuses a row the writer accepted; the day's rerun must not re-pend it."""
    world = make_world()
    sb = world.sandbox
    day = world.business_day()
    ids = world.add_declines(day, 4)
    refused = ids[1]
    sb.admin("POST", "/sftp/faults", {"refuse_orders": [refused]})
    world.ship_day(day)
    sb.admin("POST", "/sftp/faults/reset")
    world.reconcile(sweep=False)
    before = _first_rows(world)[refused]
    assert before["status"] == "DECLINED"  # handed back to the merchant's own dunning
    assert before["flex_status"] == "REJECTED"
    assert str(before["flex_reject_reason"]).startswith("flex_rejected")
    assert before["flex_sent_at"] is not None
    assert {_first_rows(world)[o]["status"] for o in ids if o != refused} == {"PENDING_FLEX"}

    # The same day again (a rerun of flex_mit_daily, whose last steps find nothing to wait for), then a
    # reconcile: nothing new happened, so nothing may move, at either point.
    cols = ("status", "flex_status", "flex_reject_reason", "flex_sent_at", "flex_batch_file")
    world.ship_day(day)
    after = _first_rows(world)[refused]
    assert {c: after[c] for c in cols} == {c: before[c] for c in cols}
    world.reconcile(sweep=False)
    after = _first_rows(world)[refused]
    assert {c: after[c] for c in cols} == {c: before[c] for c in cols}
    check_invariants(world)


def test_growing_result_file_and_webhooks_leave_no_order_submitted(make_world, webhook_server) -> None:
    """Case 3: a result file quarantined while it grew; webhooks told the outcome; the ledger must too."""
    from flex_provider.webhooks.store import WebhookStore

    world = make_world()
    sb = world.sandbox
    srv = webhook_server(
        create_app(WebhookSettings(subscriber_keys=[sb.info["webhook_subscriber_key"]], db_url=world.ledger_url))
    )
    sb.admin("POST", "/webhooks/target", {"url": f"{srv.base_url}/webhooks"})
    try:
        day = world.business_day()
        ids = world.add_declines(day, 12)
        world.ship_day(day)
        check_invariants(world)
        sb.admin("POST", "/sftp/faults", {"slow_results": 1.0})
        sb.advance(SETTLE_SECONDS)
        outbound = world.sftp_root / "outbound"
        deadline = time.monotonic() + 30
        while not any(p.name.startswith("result_") for p in outbound.iterdir()):
            assert time.monotonic() < deadline, "no result file started"
            time.sleep(0.05)
        first = world.process_results()  # the file is still being written: quarantined
        assert first["quarantined"], first
        world.expected_quarantine |= set(first["quarantined"])
        sb.admin("POST", "/sftp/faults/reset")
        world.wait_results_flushed()
        # Every order's outcome also arrived as a webhook before the reconcile runs.
        store = WebhookStore.from_url(world.ledger_url, create=False)
        try:
            deadline = time.monotonic() + 30
            while store.count_events() < len(ids):
                assert time.monotonic() < deadline, f"only {store.count_events()} webhooks arrived"
                time.sleep(0.1)
        finally:
            store.dispose()
        world.process_results()
        world.reconcile()
        counts = check_invariants(world, final=True)
        assert counts["approved"] + counts["expired"] == len(ids)
    finally:
        sb.admin("POST", "/webhooks/target", {"url": None})


def test_sweep_pages_flex_and_uses_flex_time(make_world) -> None:
    """Case 5: P overdue orders cost about ceil(P / 100) list calls, and the outcome carries Flex's time."""
    world = make_world()
    sb = world.sandbox
    day = world.business_day()
    n = 230
    world.add_declines(day, n)
    world.ship_day(day)
    sb.admin("POST", "/sftp/faults", {"paused": True})  # no result file is read: only the sweep answers
    try:
        sb.advance(SETTLE_SECONDS)
        sb.admin("POST", "/settle")
        sb.admin("DELETE", "/requests")
        world.reconcile()
        calls = sb.admin("GET", "/requests").json()
    finally:
        sb.admin("POST", "/sftp/faults", {"paused": False})
    listed = calls.get("GET /v1/orders", 0)
    one_by_one = calls.get("GET /v1/orders/{id}", 0)
    assert listed + one_by_one <= math.ceil(n / 100) + 3, calls
    rows = _first_rows(world)
    assert {rows[o]["status"] for o in rows if o in world.expect} <= {"PAID", "FAILED"}
    flex = {o["external_order_id"]: o for o in sb.admin("GET", "/orders").json() if o["mid"] == world.mid}
    for order_id in world.expect:
        settled = rows[order_id]["flex_settled_at"]
        settled = datetime.fromisoformat(str(settled).replace("Z", "+00:00"))
        if settled.tzinfo is None:
            settled = settled.replace(tzinfo=timezone.utc)
        at_flex = flex[order_id]
        candidates = [at_flex.get(k) for k in ("final_at", "updated_at") if at_flex.get(k) is not None]
        flex_times = [
            datetime.fromisoformat(str(c).replace("Z", "+00:00")) if isinstance(c, str)
            else datetime.fromtimestamp(float(c), timezone.utc)
            for c in candidates
        ]
        assert any(abs((settled - t).total_seconds()) <= 2 for t in flex_times), (order_id, settled, flex_times)
