"""``flex_provider.ui.data``: the Flex view's numbers read from real SQLite sources equal what was seeded."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine

from flex_provider.ui.data import FlexViewSources, load_overview
from tests.ui import seed


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
