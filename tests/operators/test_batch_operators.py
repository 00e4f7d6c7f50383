"""
The batch operators on their PostgreSQL code path (typed temp tables, timestamptz), against the sandbox.

Operators are called with ``execute()`` as the DAGs wire them. One world per module; the tests build on
each other in file order: a file Flex rejects as a whole (the token expired between fetch and pick-up) is
uploaded again by the next ship step, and until then the day's ``process_acks`` (its
``check_rejected_files``) fails the run; the set-based write-back (mark pending, apply outcomes, summary)
runs on PostgreSQL; webhook states are applied; outcomes never move an order backwards; the GET /orders
sweep settles overdue pending orders when no result file was read.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from tests.dags.support import SQL, FlexWorld, flex_world

TOKEN_TTL = 600.0


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlexWorld]:
    with flex_world(
        tmp_path_factory.mktemp("batch-ops"),
        "flex_batchops",
        seed=9,
        rows=45,
        bad_share=0.1,
        approved_share=0.0,
    ) as w:
        yield w


def _extract(world: FlexWorld, day: date) -> dict[str, Any]:
    from flex_provider.operators.batch import ExtractDeclinesOperator

    start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    return ExtractDeclinesOperator(
        task_id="extract",
        sql=str(SQL / "extract_declined_mit.sql"),
        parameters={
            "window_start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "window_end": (start + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        business_date=day.isoformat(),
        out_dir=str(world.batch_dir / "evaluate" / day.isoformat()),
        expiry_days=21,
    ).execute({})


def _ship(summary: dict[str, Any]) -> dict[str, Any]:
    from flex_provider.operators.batch import ShipBatchOperator

    files = [*summary["files"], *summary["resend"]]
    return ShipBatchOperator(task_id="ship", manifest=summary["manifest"], files=files).execute({})


def _project() -> dict[str, Any]:
    from flex_provider.operators.batch import FlexProjectOrdersOperator

    return FlexProjectOrdersOperator(
        task_id="project", sql=str(SQL / "project_orders.sql"), summary_sql=str(SQL / "recovery_summary.sql")
    ).execute({})


def _mark(summary: dict[str, Any]) -> dict[str, Any]:
    """flex_mit_daily's ``record_shipment >> mark_pending``."""
    from flex_provider.operators.batch import RecordShipmentOperator

    recorded = RecordShipmentOperator(task_id="record", manifest=summary["manifest"]).execute({})
    return {"recorded": recorded, "projected": _project()}


def _process(world: FlexWorld, names: list[str]) -> dict[str, Any]:
    from flex_provider.operators.batch import ProcessOutboundOperator

    return ProcessOutboundOperator(
        task_id="process", files=names, local_dir=str(world.base / "downloads")
    ).execute({})


def _reconcile(**kwargs: Any) -> dict[str, Any]:
    """flex_reconcile's ``reconcile_orders >> project_orders``."""
    from flex_provider.operators.batch import ReconcileOrdersOperator

    gathered = ReconcileOrdersOperator(task_id="reconcile", **kwargs).execute({})
    return {"reconcile": gathered, "projected": _project()}


def _check_acks(world: FlexWorld, summary: dict[str, Any]) -> Any:
    """The check ``process_acks`` of ``dags/flex_mit_daily.py`` ends with (``ProcessAcksOperator``)."""
    from flex_provider.batch.manifest import read_manifest
    from flex_provider.operators.outbound import check_rejected_files

    return check_rejected_files(world.ledger(), read_manifest(summary["manifest"]))


def _new_outbound(world: FlexWorld, prefix: str, at_least: int = 1) -> list[str]:
    """Outbound files not processed yet (processed ones were moved to ``outbound/processed/``)."""
    done = world.ledger().processed_outbound_names()
    return [n for n in world.wait_outbound(prefix, at_least=at_least) if n not in done]


def test_file_rejected_for_an_expired_token_is_uploaded_again(world: FlexWorld) -> None:
    day = world.days[0]
    world.sandbox.admin("POST", "/sftp/faults", {"paused": True})
    try:
        summary = _extract(world, day)
        assert summary["files"]
        assert summary["resend"] == []
        shipped = _ship(summary)
        assert shipped["uploaded"] == summary["files"]
        _mark(summary)
        # Flex picks the files up only after the token ran out.
        world.sandbox.advance(TOKEN_TTL + 60)
    finally:
        world.sandbox.admin("POST", "/sftp/faults", {"paused": False})
    acks = _new_outbound(world, "ack_", at_least=len(summary["files"]))
    _process(world, acks)
    ledger = world.ledger()
    for name in summary["files"]:
        info = ledger.file_info(name)
        assert (info["state"], info["ack_status"]) == ("acknowledged", "REJECTED"), info
        assert "token" in info["ack_error"]
    rows = list(ledger.rows_for_files(summary["files"]))
    assert rows
    assert {r["status"] for r in rows} == {"SHIPPED"}
    # The day's run ends in check_acks, which fails it so the operator sees the whole-file rejection.
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException, match=rf"Flex rejected {len(summary['files'])} file\(s\) as a whole") as failed:
        _check_acks(world, summary)
    assert all(name in str(failed.value) for name in summary["files"])

    # The next run of the day: nothing new to write, but the rejected files are sent again.
    again = _extract(world, day)
    assert again["files"] == []
    assert again["resend"] == summary["files"]
    result = _ship(again)
    assert result["uploaded"] == summary["files"]
    assert result["resent"] == summary["files"]
    acks = _new_outbound(world, "ack_", at_least=len(summary["files"]))
    assert sorted(acks) == sorted(f"ack_{n[:-5]}.json" for n in summary["files"])
    _process(world, acks)
    for name in summary["files"]:
        info = ledger.file_info(name)
        assert (info["state"], info["ack_status"]) == ("acknowledged", "PROCESSED"), info
    rows = list(ledger.rows_for_files(summary["files"]))
    assert {r["status"] for r in rows} == {"SUBMITTED"}
    assert all(r["order_session_key"] for r in rows)
    # Re-shipped and accepted: the rerun's check passes and counts the day's files by state.
    assert _check_acks(world, again) == {"acknowledged": len(summary["files"])}
    # A third run sends nothing at all; Flex holds one order per shipped order id.
    third = _ship(_extract(world, day))
    assert third["uploaded"] == []
    ids = Counter(o["external_order_id"] for o in world.sandbox_orders())
    assert sorted(ids) == sorted(r["order_id"] for r in rows)
    assert max(ids.values()) == 1


def test_late_rows_of_a_shipped_day_go_into_a_new_file(world: FlexWorld) -> None:
    from sqlalchemy import text

    day = world.days[0]
    before = [f["name"] for f in world.ledger_files(day=day)]
    # Two declines of that day that the billing system recorded late.
    late_at = datetime(day.year, day.month, day.day, 23, 0, tzinfo=timezone.utc)
    with world.engine.begin() as conn:
        for n in (1, 2):
            conn.execute(
                text(
                    "INSERT INTO orders (id, order_id, subscription_id, customer_id, card_token_id, is_mit, "
                    "is_recurring, amount_cents, currency, psp_transaction_id, attempted_at, response_status, "
                    "status, refunded_amount_cents) SELECT (SELECT MAX(id) + 1 FROM orders), 'late-' || :n, subscription_id, customer_id, "
                    "card_token_id, TRUE, TRUE, 1999, 'USD', 'pi_late_' || :n, :at, 'DECLINED', 'DECLINED', 0 "
                    "FROM orders WHERE status = 'PENDING_FLEX' ORDER BY id LIMIT 1"
                ),
                {"n": str(n), "at": late_at},
            )
    summary = _extract(world, day)
    assert summary["first_file_number"] == len(before) + 1
    assert len(summary["files"]) == 1
    assert summary["files"][0] not in before
    assert summary["written"] == 2
    assert _ship(summary)["uploaded"] == summary["files"]
    marked = _mark(summary)
    assert marked["projected"]["updated"] >= 2
    late = world.rows(
        "SELECT status, flex_batch_file, flex_expiry_at FROM orders WHERE order_id LIKE 'late-%'"
    )
    assert [r["status"] for r in late] == ["PENDING_FLEX", "PENDING_FLEX"]
    assert {r["flex_batch_file"] for r in late} == set(summary["files"])
    assert all(isinstance(r["flex_expiry_at"], datetime) and r["flex_expiry_at"].tzinfo for r in late)
    _process(world, _new_outbound(world, "ack_"))


def test_reconcile_on_postgres_webhooks_never_backwards_and_sweep(world: FlexWorld) -> None:
    from sqlalchemy import text

    from flex_provider.models.webhooks import FlexWebhookEvent
    from flex_provider.webhooks.store import WebhookStore

    # Ack states first: Flex's ids land on the orders, nothing is final yet.
    out = _reconcile(sweep=False)
    assert out["projected"]["staged"] > 0
    pending = world.rows(
        "SELECT DISTINCT ON (order_id) order_id, flex_order_id, amount_cents FROM orders "
        "WHERE status = 'PENDING_FLEX' ORDER BY order_id, id"
    )
    assert len(pending) >= 3
    assert all(p["flex_order_id"] for p in pending)
    by_webhook, refunded, _rest = pending[0], pending[1], pending[2:]

    # A webhook says one order was rescued; the event store lives in the ledger DB. Its Flex time is past
    # every result the sandbox will write, so by the ledger's precedence (the later Flex time wins within a
    # rank) it stays the order's outcome whatever the result file says later.
    store = WebhookStore.from_url(world.url)
    event = FlexWebhookEvent.model_validate(
        {
            "Event": "order.completed",
            "TimeStamp": (world.sandbox.now() + timedelta(days=40)).isoformat(),
            "OrderId": by_webhook["flex_order_id"],
            "ExternalOrderId": by_webhook["order_id"],
            "ConfirmationId": "WEBHOOK1",
            "Amount": by_webhook["amount_cents"],
            "Currency": "USD",
        }
    )
    store.ingest(event, json.dumps(event.model_dump(by_alias=True, mode="json")).encode())
    store.dispose()
    # And the merchant refunded another one by hand already (rank 3: nothing may undo it).
    with world.engine.begin() as conn:
        conn.execute(
            text("UPDATE orders SET status = 'REFUNDED' WHERE order_id = :o"), {"o": refunded["order_id"]}
        )

    out = _reconcile(sweep=False)
    assert out["reconcile"]["webhooks"]["stored"] >= 1
    (row,) = world.rows(
        "SELECT status, flex_confirmation_id, flex_settled_at FROM orders WHERE order_id = :o AND flex_sent_at "
        "IS NOT NULL",
        o=by_webhook["order_id"],
    )
    assert row["status"] == "PAID"
    assert row["flex_confirmation_id"] == "WEBHOOK1"
    assert row["flex_settled_at"].tzinfo is not None

    # Past the window, with no result file read: the sweep pages GET /orders for overdue orders.
    world.sandbox.admin("POST", "/sftp/faults", {"paused": True})
    try:
        world.sandbox.advance(25 * 86400)
        world.sandbox.admin("POST", "/settle")
        out = _reconcile(sweep=True, sweep_as_of=world.sandbox.now().isoformat())
    finally:
        world.sandbox.admin("POST", "/sftp/faults", {"paused": False})
    assert out["reconcile"]["sweep"]["final"] > 0
    shipped = world.rows("SELECT order_id, status FROM orders WHERE flex_sent_at IS NOT NULL")
    statuses = Counter(r["status"] for r in shipped)
    assert statuses["PENDING_FLEX"] == 0, statuses
    assert set(statuses) <= {"PAID", "FAILED", "REFUNDED"}
    assert world.scalar("SELECT status FROM orders WHERE order_id = :o", o=refunded["order_id"]) == "REFUNDED"
    assert (
        world.scalar("SELECT flex_confirmation_id FROM orders WHERE order_id = :o", o=by_webhook["order_id"])
        == "WEBHOOK1"
    )
    # The sweep's answers are ledger events: no order stays SUBMITTED in the ledger (the webhook-paid one
    # is APPROVED by its webhook event, the hand-refunded one was swept like the rest), and the result
    # files that come later change no status.
    ledger_status = Counter(r["status"] for r in world.ledger().iter_rows(world.mid))
    assert set(ledger_status) <= {"APPROVED", "EXPIRED"}, ledger_status
    results = _new_outbound(world, "result_")
    assert results
    _process(world, results)
    assert Counter(r["status"] for r in world.ledger().iter_rows(world.mid)) == ledger_status
    before = Counter(r["status"] for r in shipped)
    _reconcile(sweep=True, sweep_as_of=world.sandbox.now().isoformat())
    after = Counter(
        r["status"] for r in world.rows("SELECT status FROM orders WHERE flex_sent_at IS NOT NULL")
    )
    assert after == before

    # The summary (PostgreSQL numeric/date types) adds up.
    summary = world.rows("SELECT * FROM flex_recovery_summary")
    assert {r["business_date"] for r in summary} >= {world.days[0]}
    total = {
        k: sum(int(r[k]) for r in summary)
        for k in ("declines_sent", "rescued_count", "expired_count", "pending")
    }
    assert total["pending"] == 0
    assert total["declines_sent"] == len(shipped)
    assert (
        total["rescued_count"] == statuses["PAID"] + statuses["REFUNDED"] - 1
    )  # the hand refund has no confirmation
    assert total["expired_count"] == statuses["FAILED"]
    for r in summary:
        settled = r["rescued_count"] + r["expired_count"]
        if settled:
            assert float(r["recovery_rate"]) == pytest.approx(r["rescued_count"] / settled, abs=1e-4)


def test_projection_stages_states_server_side_exactly_as_python_would(world: FlexWorld) -> None:
    """Ledger and merchant tables share this database: the staging SELECT runs there, same rows."""
    from flex_provider.ledger.projection import _python_rows, states_query
    from flex_provider.merchant.db import same_database, utc_text

    ledger = world.ledger()
    assert same_database(world.engine, ledger.engine), "same PostgreSQL database, yet rows go through Python"
    query = states_query(mid=world.mid, after_seq=None, order_ids=None)
    with world.engine.connect() as conn:
        server = sorted(
            tuple(
                utc_text(v) if isinstance(v, datetime) else (str(v) if i == 2 and v is not None else v)
                for i, v in enumerate(r)
            )
            for r in conn.execute(query)
        )
    through_python = sorted(_python_rows(ledger, query))
    assert through_python, "the world has shipped orders by now"
    assert server == through_python
