"""``flex_provider.ui.app``: the page and its JSON show the same numbers, under a strict CSP.

Airflow's authentication of the view is exercised against a real api-server in ``tests/ui/test_browser_ui.py``;
here the app is built with a pass-through ``authorize`` to check what it reads and shows.
"""

from __future__ import annotations

import json
import re
from html import unescape

from fastapi.testclient import TestClient

from flex_provider.ui.app import CSP, create_ui_app
from flex_provider.ui.data import FlexViewSources
from tests.ui import seed


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
