"""Real SQLite sources for the Flex view (merchant DB, ledger, webhook store), seeded with known numbers."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from flex_provider.batch.ledger import FlexLedger
from flex_provider.models.webhooks import FlexWebhookEvent
from flex_provider.ui.data import FlexViewSources
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
