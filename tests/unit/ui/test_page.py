"""``flex_provider.ui.page``: the page shows what it is given, escaped, and the chart adds currencies per day."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone

from flex_provider.ui.data import BatchFile, DayRecovery, FlexOverview, Reject, WebhookEvent
from flex_provider.ui.page import chart, render

D1, D2 = date(2026, 11, 21), date(2026, 11, 22)


def _day(day: date, currency: str, sent: int, rescued: int, expired: int, pending: int) -> DayRecovery:
    return DayRecovery(business_date=day, currency=currency, declines_sent=sent, rejected=0, pending=pending,
                       rescued_count=rescued, rescued_amount="1.00", rescued_amount_minor=100, expired=expired,
                       recovery_rate=None)


def _view(**kw) -> FlexOverview:
    base = {"days": [_day(D1, "USD", 10, 4, 3, 1), _day(D2, "USD", 6, 1, 0, 5), _day(D2, "JPY", 2, 2, 0, 0)],
            "selected_day": D2, "files": [], "rejects": [], "rejects_by_reason": {}, "events": []}
    return FlexOverview(**{**base, **kw})


def test_merchant_values_are_escaped() -> None:
    view = _view(
        rejects=[Reject(order_id="<script>alert(1)</script>", reason="pan_detected")],
        rejects_by_reason={"pan_detected": 1},
        files=[BatchFile(name="a&b.json", kind="evaluate", state="uploaded", rows=3)],
        events=[WebhookEvent(id=1, event="order.completed", order_id='"><img src=x>',
                             received_at=datetime(2026, 11, 22, 10, tzinfo=timezone.utc))],
    )
    html = render(view)
    assert "<script>" not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "a&amp;b.json" in html
    assert "2026-11-22 10:00:00 UTC" in html
    assert '<p id="reject-reasons">pan_detected: 1</p>' in html


def test_the_selected_day_rows_are_marked_and_link_under_the_base_path() -> None:
    html = render(_view(), base_path="/flex/view")
    rows = re.findall(r"<tr( class=\"sel\")?><td[^>]*><a href=\"/flex/view\?day=([\d-]+)\"", html)
    assert rows == [(' class="sel"', "2026-11-22"), (' class="sel"', "2026-11-22"), ("", "2026-11-21")]
    assert '<span id="selected-day">2026-11-22</span>' in html
    assert render(_view(days=[], selected_day=None)).count(">none</td>") == 4  # every table says none


def test_the_chart_adds_the_currencies_of_a_day() -> None:
    svg = chart(_view().days)
    titles = re.findall(r"<title>([\d-]+) (\w+): (\d+)</title>", svg)
    assert titles == [("2026-11-21", "rescued", "4"), ("2026-11-21", "expired", "3"), ("2026-11-21", "pending", "1"),
                      ("2026-11-21", "other", "2"), ("2026-11-22", "rescued", "3"), ("2026-11-22", "pending", "5")]
    assert re.findall(r'text-anchor="middle">(\d+)</text>', svg) == ["10", "8"]  # declines sent per day
    assert "No recovery summary yet" in chart([])
