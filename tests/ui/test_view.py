"""The Flex view's data and page on real SQLite sources (merchant DB, ledger, webhook store), no browser.

Airflow's authentication of the view is exercised against a real api-server in ``test_browser_ui.py``;
here the app is built with a pass-through ``authorize`` to check what it reads and shows.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from html import unescape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from flex_provider.batch.ledger import FlexLedger
from flex_provider.models.webhooks import FlexWebhookEvent
from flex_provider.ui.app import CSP, create_ui_app
from flex_provider.ui.data import FlexViewSources, load_overview
from flex_provider.webhooks.store import WebhookStore
from tests.ui import seed

MID = "11111111-2222-3333-4444-555555555555"


def _event(order: str, event: str, amount: int, currency: str, minute: int) -> FlexWebhookEvent:
    return FlexWebhookEvent.model_validate({
        "Event": event, "TimeStamp": f"2026-11-22T10:{minute:02d}:00.000000Z", "OrderId": order,
        "ExternalOrderId": f"ext-{order}", "ConfirmationId": "C0NF1RM", "IsTestMode": True, "IsResent": False,
        "Amount": amount, "Currency": currency,
    })  # fmt: skip


@pytest.fixture
def sources(tmp_path: Path) -> FlexViewSources:
    merchant = create_engine(f"sqlite:///{tmp_path / 'merchant.db'}")
    seed.seed_merchant(merchant)
    ledger = FlexLedger.from_url(f"sqlite:///{tmp_path / 'ledger.db'}")
    seed.seed_ledger(ledger, MID)
    store = WebhookStore.from_url(f"sqlite:///{tmp_path / 'ledger.db'}")
    for i, (order, event, amount, currency) in enumerate([
        ("ord-w-1", "order.completed", 1999, "USD"), ("ord-w-2", "order.expired", 500, "JPY"),
        ("ord-w-3", "order.completed", 1500, "KWD"),
    ]):
        store.ingest(_event(order, event, amount, currency, i), b'{"secret-free": true}', nonce=f"{i:032x}",
                     received_at=datetime(2026, 11, 22, 11, i, tzinfo=timezone.utc))
    return FlexViewSources(merchant_engine=merchant, ledger=ledger, webhook_store=store, mid=MID)


def test_overview_equals_the_seeded_inputs(sources: FlexViewSources):
    view = load_overview(sources)
    assert view.errors == []
    assert view.selected_day == seed.DAY2  # newest day by default
    got = {(d.business_date, d.currency): d for d in view.days}
    assert set(got) == set(seed.EXPECTED_ROWS)
    for key, want in seed.EXPECTED_ROWS.items():
        d = got[key]
        assert (str(d.declines_sent), str(d.rescued_count), d.rescued_amount, str(d.expired), str(d.pending),
                str(d.rejected), d.recovery_rate or "n/a") == (
            want["sent"], want["rescued"], want["amount"], want["expired"], want["pending"], want["rejected"],
            want["rate"]), key
    assert [(f.name, f.kind, f.rows, f.state, f.ack_status) for f in view.files] == seed.FILES_DAY2
    assert [(r.order_id, r.reason) for r in view.rejects] == seed.REJECTS_DAY2
    assert view.rejects_by_reason == {"missing_amount": 2, "pan_detected": 1}
    assert [(e.order_id, e.event, e.amount, e.currency) for e in view.events] == [
        ("ord-w-3", "order.completed", "1.500", "KWD"), ("ord-w-2", "order.expired", "500", "JPY"),
        ("ord-w-1", "order.completed", "19.99", "USD")]


def test_a_day_can_be_picked(sources: FlexViewSources):
    view = load_overview(sources, seed.DAY1)
    assert view.selected_day == seed.DAY1
    assert view.files == []
    assert [(r.order_id, r.reason) for r in view.rejects] == [("ord-r-9", "bad_currency")]  # DAY1's own
    assert view.rejects_by_reason == {"bad_currency": 1}


def test_missing_sources_are_reported_not_raised(tmp_path: Path):
    broken = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")  # no tables
    view = load_overview(FlexViewSources(merchant_engine=broken, ledger=None, webhook_store=None, mid=None))
    assert view.days == []
    assert any(e.startswith("merchant summary") for e in view.errors)
    assert "webhook store not configured" in view.errors


def _cells(html: str, table_id: str) -> list[list[str]]:
    body = re.search(rf'<table id="{table_id}">.*?<tbody>(.*?)</tbody>', html, re.DOTALL).group(1)
    return [[unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.DOTALL)]


def test_page_and_json_show_the_same_numbers_with_a_strict_csp(sources: FlexViewSources):
    client = TestClient(create_ui_app(sources, authorize=lambda: None))
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == CSP
    assert "default-src 'none'" in CSP
    html = page.text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing fetched from elsewhere
    assert "<script" not in html
    rows = {(r[0], r[1]): r[2:] for r in _cells(html, "recovery")}
    for (day, cur), want in seed.EXPECTED_ROWS.items():
        assert rows[(day.isoformat(), cur)] == [want["sent"], want["rescued"], want["amount"], want["expired"],
                                                want["pending"], want["rejected"], want["rate"]]
    assert [r[0] for r in _cells(html, "files")] == [f[0] for f in seed.FILES_DAY2]
    assert [tuple(r) for r in _cells(html, "rejects")] == seed.REJECTS_DAY2
    assert 'id="chart"' in html
    assert "<svg" in html
    data = client.get("/api/overview", params={"day": seed.DAY2.isoformat()}).json()
    assert data["rejects_by_reason"] == {"missing_amount": 2, "pan_detected": 1}
    assert {(d["business_date"], d["currency"]): d["rescued_amount"] for d in data["days"]} == {
        (k[0].isoformat(), k[1]): v["amount"] for k, v in seed.EXPECTED_ROWS.items()}
    assert "payload" not in json.dumps(data["events"])  # stored payloads stay out of the API
