"""
Every sample DAG, run with ``dag.test()`` in this process against PostgreSQL and the sandbox.

One merchant world per module (tests run in file order and build on each other): three business days
of declines are shipped by ``flex_mit_daily`` (dry run, a row-limited run, then the rest of that day as
late rows, a scheduled-style run with a logical date, a manual run without one), approved payments by
``flex_transmit_daily``; a pending order is cancelled with ``flex_order_action``; the sandbox clock then
jumps past the rescue window and ``flex_reconcile`` applies the outcomes and writes the summary; paid
orders are refunded; reruns ship nothing twice. The merchant DB is checked after each step.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, time, timezone

import pytest

from tests.dags.support import (
    FlexWorld,
    check_every_decline_accounted,
    flex_world,
    migrate_airflow_db,
    run_dag,
    task_states,
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlexWorld]:
    migrate_airflow_db()
    with flex_world(
        tmp_path_factory.mktemp("dag-runs"), "flex_dagruns", seed=5, rows=90, bad_share=0.1, approved_share=0.2
    ) as w:
        yield w


def _ok(dr: object) -> None:
    states = task_states(dr)
    assert str(dr.state) == "success", states  # type: ignore[attr-defined]


def _uploads(world: FlexWorld, kind: str = "evaluate") -> dict[str, str]:
    return {f["name"]: f["state"] for f in world.ledger_files(kind) if f["state"] != "written"}


def test_mit_daily_dry_run_then_row_limit_then_late_rows(world: FlexWorld) -> None:
    """
    Manual runs without a logical date: the fan-out example's Params business_date, dry_run, row_limit
    (mapped ship tasks), then flex_mit_daily ships the late rows of that day.
    """
    day = world.days[0]
    merchant_before = world.rows("SELECT * FROM orders ORDER BY id")
    dr = run_dag("flex_mit_daily_fanout", conf={"business_date": day.isoformat(), "dry_run": True})
    _ok(dr)
    assert dr.logical_date is None
    assert world.ledger_files(day=day) == []  # written locally, nothing recorded or shipped
    assert world.rows("SELECT * FROM orders ORDER BY id") == merchant_before  # not one merchant row touched
    assert task_states(dr)["mark_pending"] == "skipped"
    assert list((world.batch_dir / "evaluate" / day.isoformat()).glob("evaluate_*_0001.json"))

    dr = run_dag("flex_mit_daily_fanout", conf={"business_date": day.isoformat(), "row_limit": 10})
    _ok(dr)
    assert {k for k in task_states(dr) if k.startswith("ship[")} == {f"ship[{i}]" for i in range(4)}
    files = world.ledger_files(day=day)
    assert [f["name"][-9:] for f in files] == ["0001.json"]
    first_rows = files[0]["rows"]
    assert 0 < first_rows <= 10

    # The rest of the day: the declines the row limit left out arrive like late rows of a shipped day.
    dr = run_dag("flex_mit_daily", conf={"business_date": day.isoformat()})
    _ok(dr)
    files = world.ledger_files(day=day)
    assert [f["name"][-9:] for f in files] == ["0001.json", "0002.json"], files
    assert files[0]["rows"] == first_rows  # the uploaded file was left alone
    assert all(f["state"] == "acknowledged" and f["ack_status"] == "PROCESSED" for f in files)
    counts = check_every_decline_accounted(world, day)
    assert counts["shipped"] == sum(f["rows"] for f in files)
    assert counts["rejected"] > 0


def test_mit_daily_scheduled_and_manual_days(world: FlexWorld) -> None:
    """Day 2 as a scheduled run would see it (logical date -> data interval), day 3 by Param only."""
    day2, day3 = world.days[1], world.days[2]
    # dag.test() infers the interval that ended at the logical date: [day2 02:00, day3 02:00) -> day2.
    logical = datetime.combine(day3, time(2, 0), tzinfo=timezone.utc)
    dr = run_dag("flex_mit_daily", logical_date=logical)
    _ok(dr)
    assert dr.data_interval_start.date() == day2
    dr = run_dag("flex_mit_daily", conf={"business_date": day3.isoformat()})
    _ok(dr)
    for day in (day2, day3):
        counts = check_every_decline_accounted(world, day)
        assert counts["shipped"] == sum(f["rows"] for f in world.ledger_files(day=day))
    # Acks were applied: every shipped order knows Flex's order id and is PENDING_FLEX.
    pending = [o for o in world.orders() if o["flex_sent_at"] is not None]
    assert pending
    assert all(o["status"] == "PENDING_FLEX" and o["flex_order_id"] for o in pending)


def test_mit_daily_rerun_ships_nothing(world: FlexWorld) -> None:
    before = _uploads(world)
    pickups = world.upload_counts()
    dr = run_dag("flex_mit_daily", conf={"business_date": world.days[1].isoformat()})
    _ok(dr)
    states = task_states(dr)
    assert states["wait_for_acks"] == "skipped"  # nothing uploaded, nothing to wait for
    assert _uploads(world) == before
    assert world.upload_counts() == pickups
    assert max(pickups.values()) == 1  # every file was picked up by Flex exactly once
    # And Flex has one order per shipped order id.
    ids = Counter(o["external_order_id"] for o in world.sandbox_orders())
    assert ids
    assert max(ids.values()) == 1


def test_transmit_daily(world: FlexWorld) -> None:
    day = world.days[2]
    dr = run_dag("flex_transmit_daily", conf={"business_date": day.isoformat()})
    _ok(dr)
    files = world.ledger_files("transmit", day)
    approved = [o for o in world.orders(day) if o["response_status"] == "APPROVED"]
    assert files
    assert sum(f["rows"] for f in files) == len(approved)
    dr = run_dag("flex_transmit_daily", conf={"business_date": day.isoformat()})
    _ok(dr)
    assert world.ledger_files("transmit", day) == files  # a rerun ships nothing again


def test_order_action_cancel(world: FlexWorld) -> None:
    order = next(o for o in world.orders() if o["status"] == "PENDING_FLEX")
    dr = run_dag("flex_order_action", conf={"order_id": order["order_id"], "action": "cancel"})
    _ok(dr)
    assert world.scalar("SELECT status FROM orders WHERE id = :i", i=order["id"]) == "CANCELLED"
    flex = next(o for o in world.sandbox_orders() if o["id"] == order["flex_order_id"])
    assert flex["status"] == 2  # Cancelled at Flex


def test_reconcile_after_the_window(world: FlexWorld) -> None:
    world.settle_past_window()
    dr = run_dag("flex_reconcile", conf={"sweep_as_of": world.sandbox.now().isoformat()})
    _ok(dr)
    shipped = [o for o in world.orders() if o["flex_sent_at"] is not None]
    final = Counter(o["status"] for o in shipped)
    assert set(final) <= {"PAID", "FAILED", "CANCELLED"}, final
    assert final["PAID"]
    assert final["FAILED"]
    assert final["CANCELLED"] == 1
    assert all(o["flex_confirmation_id"] for o in shipped if o["status"] == "PAID")
    summary = {r["business_date"]: r for r in world.rows("SELECT * FROM flex_recovery_summary")}
    assert set(summary) == set(world.days)
    for day, row in summary.items():
        day_shipped = [o for o in shipped if o["flex_business_date"] == day]
        assert row["declines_sent"] == len(day_shipped)
        assert row["pending"] == 0
        assert row["rescued_count"] == sum(o["status"] == "PAID" for o in day_shipped)
        assert row["expired_count"] == sum(o["status"] == "FAILED" for o in day_shipped)
    # A second reconcile changes nothing (and moves nothing backwards).
    dr = run_dag("flex_reconcile", conf={"sweep_as_of": world.sandbox.now().isoformat()})
    _ok(dr)
    assert Counter(o["status"] for o in world.orders() if o["flex_sent_at"] is not None) == final


def _asset_events(name: str) -> list[dict]:
    """Extras of the asset events Airflow recorded for one asset (the Assets page shows the same)."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = select(AssetEvent.extra).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
        return [dict(extra or {}) for extra in session.scalars(query.where(AssetModel.name == name))]


def test_the_flow_is_on_the_assets_page(world: FlexWorld) -> None:
    """Each hand-over emits an asset event whose counts add up to what the merchant DB says moved."""
    batches = _asset_events("flex_evaluate_batches")
    assert batches
    shipped = world.scalar("SELECT COUNT(*) FROM orders WHERE flex_sent_at IS NOT NULL")
    assert sum(e["rows"] for e in batches) == shipped  # every order counted once, reruns add 0
    assert _asset_events("flex_acks")
    assert _asset_events("flex_recovery_summary")
    assert _asset_events("flex_transmit_batches")


def test_order_action_refunds(world: FlexWorld) -> None:
    paid = [o for o in world.orders() if o["status"] == "PAID" and o["flex_order_id"]]
    assert len(paid) >= 2
    full, partial = paid[0], paid[1]
    _ok(run_dag("flex_order_action", conf={"order_id": full["order_id"], "action": "refund_full"}))
    (row,) = world.rows("SELECT status, refunded_amount_cents FROM orders WHERE id = :i", i=full["id"])
    assert row == {"status": "REFUNDED", "refunded_amount_cents": full["amount_cents"]}
    _ok(
        run_dag(
            "flex_order_action",
            conf={
                "order_id": partial["order_id"],
                "action": "refund_partial",
                "amount": "1.50",
                "reason": "goodwill",
            },
        )
    )
    (row,) = world.rows("SELECT status, refunded_amount_cents FROM orders WHERE id = :i", i=partial["id"])
    assert row == {"status": "PAID", "refunded_amount_cents": 150}


def test_reruns_after_everything_ship_nothing(world: FlexWorld) -> None:
    before = _uploads(world)
    pickups = world.upload_counts()
    _ok(run_dag("flex_mit_daily", conf={"business_date": world.days[0].isoformat()}))
    assert _uploads(world) == before
    assert world.upload_counts() == pickups
    # Nothing moved backwards: refunded stays refunded, cancelled stays cancelled.
    assert world.scalar("SELECT COUNT(*) FROM orders WHERE status = 'REFUNDED'") == 1
    assert world.scalar("SELECT COUNT(*) FROM orders WHERE status = 'CANCELLED'") == 1
    assert world.scalar("SELECT COUNT(*) FROM orders WHERE status = 'PENDING_FLEX'") == 0
