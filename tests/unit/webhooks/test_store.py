"""``flex_provider.webhooks.store``: an order's state never moves backwards, whatever the delivery order."""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

from flex_provider.models.webhooks import FlexWebhookEvent
from flex_provider.webhooks.store import WebhookStore

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=timezone.utc)


def _event(order: str, name: str, minute: int) -> FlexWebhookEvent:
    return FlexWebhookEvent(
        event=name, timestamp=NOW + timedelta(minutes=minute), order_id=order, external_order_id=f"x-{order}"
    )


def expected_state(events: list[FlexWebhookEvent]) -> str:
    """The documented rule, written independently: max of (rank, timestamp, status)."""
    rank = {"APPROVED": 1, "EXPIRED": 1, "CANCELLED": 1, "REFUNDED": 2, "CHARGEBACK": 2}
    return max((rank[e.status], e.timestamp, e.status) for e in events if e.status)[2]


def test_order_state_never_moves_backwards(tmp_path: Path):
    store = WebhookStore.from_url(f"sqlite:///{tmp_path / 's.db'}")
    streams = {
        "approved-then-refunded": [("order.completed", 0), ("order.refunded", 5)],
        "refund-arrives-first": [("order.refunded", 5), ("order.completed", 0)],
        "late-approve-after-chargeback": [("payment.chargeback.received", 3), ("order.completed", 9)],
        "cancel-newer-than-approve": [("order.completed", 1), ("order.cancelled", 2)],
        "expired-only": [("order.expired", 4), ("order.capturerequired", 5)],
    }
    rng = random.Random(7)
    for order, stream in streams.items():
        evs = [_event(order, n, m) for n, m in stream]
        deliveries = evs + [rng.choice(evs) for _ in range(3)]
        rng.shuffle(deliveries)
        for ev in deliveries:
            store.ingest(ev, ev.model_dump_json(by_alias=True).encode())
        assert store.order_state(order)["status"] == expected_state(evs), order
    assert store.count_events() == sum(len(s) for s in streams.values())
    # every permutation of a 3-event stream ends in the same state
    evs = [
        _event("perm", "order.completed", 0),
        _event("perm", "order.cancelled", 1),
        _event("perm", "order.refunded", 2),
    ]
    for i, perm in enumerate(itertools.permutations(evs)):
        fresh = WebhookStore.from_url(f"sqlite:///{tmp_path / f'p{i}.db'}")
        for ev in perm:
            fresh.ingest(ev, b"{}")
        assert fresh.order_state("perm")["status"] == "REFUNDED"
        fresh.dispose()
    store.dispose()
