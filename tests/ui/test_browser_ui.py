"""
The Airflow UI as a merchant uses it, in headless Debian Chromium (Playwright), against a real api-server.

One module-scoped world: the Flex sandbox (sending its webhooks to the api-server's receiver), a SQLite
merchant DB and ledger seeded with known numbers (``tests/ui/seed.py``), an Airflow home with the
connections stored in the metadata DB, and ``airflow api-server`` + ``airflow dag-processor`` as separate
processes (:class:`flex_provider.ui.stack.AirflowStack`, the same code ``make ui`` runs). The browser
logs in once; every response body it receives is kept and scanned for the webhook secret at the end.
Screenshots go to ``tests/artifacts/ui/`` (or ``$FLEX_TEST_ARTIFACTS/ui/``).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine

from flex_provider.batch.ledger import FlexLedger
from flex_provider.hooks.api import FlexApiHook, FlexConnectionSettings
from flex_provider.ui.launch import DAGS, connections
from flex_provider.ui.stack import AirflowStack
from flex_provider.webhooks.store import WebhookStore
from tests.api.test_hook import PAST_WINDOW, approving_token, evaluate_body
from tests.checkout.support import artifact_dir
from tests.checkout.test_browser_checkout import CHROMIUM_ARGS, _chromium  # same Debian Chromium, same skip
from tests.fixtures.sandbox import SandboxProcess
from tests.fixtures.webhooks import free_port
from tests.ui import seed

pytestmark = pytest.mark.slow  # one api-server + dag-processor + scheduler start for the module (~40 s here)

REPO = Path(__file__).resolve().parents[2]
WAIT_MS = 30_000
#: A stored connection still using the old extra name: Airflow shows its value (the positive control).
LEGACY_SECRET = "TGVnYWN5LWtleS1zaG93bi1pbi1jbGVhcg=="
#: Webhooks the sandbox sends to the receiver: (order, event, amount minor, currency, shown amount).
WEBHOOKS = [("ord-ui-1", "order.completed", 2599, "USD", "25.99"), ("ord-ui-2", "order.expired", 700, "JPY", "700")]
#: A merchant order Flex rescued (evaluated with the sandbox's always-approved test card), to refund from the UI.
REFUND_ORDER = "ord-ui-refund"
REFUND_CENTS = 1999  # tests.api.test_hook.evaluate_body's amount


@dataclass
class UiWorld:
    """The running stack and what the tests put into it."""

    stack: AirflowStack
    sandbox: SandboxProcess
    secret: str
    merchant_url: str
    responses: list[tuple[str, bytes]] = field(default_factory=list)  # (url, body) the browser got


def _rescued_order(sandbox: SandboxProcess, merchant_url: str, ledger: FlexLedger) -> None:
    """
    Evaluate one order with the approving test card, let the sandbox settle it, and book it as the flow
    would: Flex's facts in the ledger (evaluated, then its APPROVED result) and the merchant row PAID.
    """
    from flex_provider.ledger.events import OrderEvent
    from flex_provider.merchant.schema import orders, ts

    info = sandbox.info
    settings = FlexConnectionSettings(base_url=info["api_url"], app_key=info["app_key"],
                                      app_secret=info["app_secret"], mid=info["mid"])
    with FlexApiHook(settings=settings) as hook:
        body = evaluate_body(info["mid"], REFUND_ORDER)
        body["paymentMethod"]["cardNumber"] = approving_token(hook)
        body["expiryDateUtc"] = (sandbox.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
        key = hook.evaluate(body).order_session_key
    sandbox.advance(PAST_WINDOW)
    facts = {"mid": info["mid"], "order_id": REFUND_ORDER, "order_session_key": key, "currency": "USD",
             "amount_minor": REFUND_CENTS, "flex_time": sandbox.now()}
    ledger.append_events([
        OrderEvent(kind="evaluated", event_key=body["idempotencyKey"], status="SHIPPED",
                   business_date=seed.DAY1, **facts),
        OrderEvent(kind="result", event_key="result_ui.json:0", status="APPROVED", confirmation_id="C0NF", **facts),
    ])
    engine = create_engine(merchant_url)
    with engine.begin() as conn:
        conn.execute(orders.insert(), [{
            "order_id": REFUND_ORDER, "attempted_at": ts(sandbox.now()), "status": "PAID",
            "amount_cents": REFUND_CENTS, "currency": "USD", "flex_business_date": seed.DAY1.isoformat(),
            "flex_sent_at": ts(sandbox.now()), "flex_order_id": key, "flex_status": "APPROVED",
            "flex_confirmation_id": "C0NF"}])
    engine.dispose()


def _send_webhooks(sandbox: SandboxProcess, store_url: str) -> None:
    events = [{"Event": ev, "OrderId": oid, "ExternalOrderId": f"ext-{oid}", "Amount": amt, "Currency": cur}
              for oid, ev, amt, cur, _ in WEBHOOKS]
    r = sandbox.admin("POST", "/webhooks/send", {"events": events, "apply_faults": False})
    r.raise_for_status()
    store = WebhookStore.from_url(store_url, create=False)
    try:
        deadline = time.monotonic() + 60
        while store.count_events() < len(WEBHOOKS):
            assert time.monotonic() < deadline, sandbox.admin("GET", "/webhooks/outbox").json()
            time.sleep(0.3)
    finally:
        store.dispose()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiWorld]:
    base = tmp_path_factory.mktemp("ui")
    port = free_port()
    sandbox = SandboxProcess(base / "sandbox", ["--webhook-url", f"http://127.0.0.1:{port}/flex/webhooks"]).start()
    merchant_db, ledger_db = base / "merchant.db", base / "ledger.db"
    engine = create_engine(f"sqlite:///{merchant_db}")
    seed.seed_merchant(engine)
    engine.dispose()
    ledger = FlexLedger.from_url(f"sqlite:///{ledger_db}")
    _rescued_order(sandbox, f"sqlite:///{merchant_db}", ledger)
    seed.seed_ledger(ledger, sandbox.info["mid"])
    stack = AirflowStack(base / "airflow", port=port, dags_folder=REPO / "dags", extra_env={
        "AIRFLOW__FLEX__LEDGER_CONN_ID": "flex_ledger_db", "AIRFLOW__FLEX__MERCHANT_CONN_ID": "flex_merchant_db"})
    try:
        stack.migrate()
        conns = connections(sandbox.info, merchant_db, ledger_db)
        conns["flex_legacy"] = {"conn_type": "flex", "login": "k", "password": "legacy-app-secret",
                                "extra": json.dumps({"webhook_subscriber_key": LEGACY_SECRET})}
        stack.import_connections(conns)
        stack.start(("api-server", "dag-processor", "scheduler"))
        stack.wait_ready(("/api/v2/monitor/health", "/flex/health"))
        _send_webhooks(sandbox, f"sqlite:///{ledger_db}")
        yield UiWorld(stack=stack, sandbox=sandbox, secret=sandbox.info["webhook_subscriber_key"],
                      merchant_url=f"sqlite:///{merchant_db}")
    finally:
        stack.stop()
        sandbox.stop()


@pytest.fixture(scope="module")
def page(world: UiWorld) -> Iterator[Any]:
    """One logged-in browser page; every response the browser receives passes through ``_capture``."""
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = _chromium()

    def _capture(route: Any) -> None:
        response = route.fetch(max_redirects=0)  # redirects reach the browser as redirects
        world.responses.append((route.request.url, response.body()))
        route.fulfill(response=response)

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.route("**/*", _capture)
        pg = context.new_page()
        pg.goto(world.stack.url, timeout=WAIT_MS)
        pg.wait_for_url(re.compile(r".*/auth/login.*"), timeout=WAIT_MS)  # Airflow asks us to log in
        pg.screenshot(path=str(artifact_dir("ui") / "login.png"))
        pg.fill("input[name=username]", "admin")
        pg.fill("input[name=password]", world.stack.admin_password)
        pg.locator("button[type=submit]").click()
        pg.wait_for_url(re.compile(rf"^{re.escape(world.stack.url)}/(?!auth).*"), timeout=WAIT_MS)
        try:
            yield pg
        finally:
            context.close()
            browser.close()


def _shot(pg: Any, name: str) -> Path:
    path = artifact_dir("ui") / name
    pg.screenshot(path=str(path), full_page=True)
    return path


def test_login_lands_on_the_airflow_home(page: Any, world: UiWorld):
    from playwright.sync_api import expect

    expect(page.get_by_role("link", name=re.compile("Flex reco"))).to_be_visible(timeout=WAIT_MS)  # nav entry
    assert _shot(page, "home.png").stat().st_size > 10_000


def test_the_four_dags_are_listed_without_import_errors(page: Any, world: UiWorld):
    from playwright.sync_api import expect

    page.goto(f"{world.stack.url}/dags", timeout=WAIT_MS)
    for dag_id in DAGS:
        expect(page.get_by_text(dag_id, exact=True).first).to_be_visible(timeout=90_000)  # dag-processor parses
    _shot(page, "dags.png")
    headers = {"Authorization": f"Bearer {world.stack.token()}"}
    errors = httpx.get(f"{world.stack.url}/api/v2/importErrors", headers=headers, timeout=30).json()
    assert errors["total_entries"] == 0, errors


def test_flex_connection_form_has_its_fields_and_the_test_button_passes(page: Any, world: UiWorld):
    from playwright.sync_api import expect

    page.goto(f"{world.stack.url}/connections", timeout=WAIT_MS)
    row = page.locator("tr", has_text="flex_default")
    expect(row).to_be_visible(timeout=WAIT_MS)
    with page.expect_response(lambda r: r.url.endswith("/api/v2/connections/test"), timeout=WAIT_MS) as tested:
        row.get_by_role("button", name="Test Connection").click()
    assert tested.value.status == 200, tested.value.text()
    assert tested.value.json() == {"status": True,
                                   "message": f"Authenticated with Flex at {world.sandbox.info['api_url']}"}
    row.get_by_role("button", name="Edit Connection").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("App secret")).to_be_visible(timeout=WAIT_MS)
    for label in ("Base URL", "App key", "Port (the Base URL's)"):
        expect(dialog.get_by_text(label, exact=True)).to_be_visible()
    values = {i.get_attribute("name"): i.input_value() for i in dialog.locator("input").all()}
    assert values["host"] == world.sandbox.info["api_url"]
    assert values["port"] == str(json.loads(world.sandbox.info["airflow_connections"]["flex_default"])["port"])
    assert values["element_mid"] == world.sandbox.info["mid"]
    assert values["element_webhook_secret"] == "***"  # masked, not the key
    assert dialog.locator("input[name=element_webhook_secret]").get_attribute("type") == "password"
    _shot(page, "connection-form.png")
    page.keyboard.press("Escape")


def _cells(frame: Any, table_id: str) -> list[list[str]]:
    rows = frame.locator(f"#{table_id} tbody tr")
    return [[c.strip() for c in rows.nth(i).locator("td").all_inner_texts()] for i in range(rows.count())]


def test_flex_view_shows_the_seeded_numbers(page: Any, world: UiWorld):
    from playwright.sync_api import expect

    page.get_by_role("link", name=re.compile("Flex reco")).click()
    page.wait_for_url(f"{world.stack.url}/plugin/flex", timeout=WAIT_MS)
    frame = page.frame_locator("iframe")
    expect(frame.locator("#recovery")).to_be_visible(timeout=WAIT_MS)
    rows = {(r[0], r[1]): r[2:] for r in _cells(frame, "recovery")}
    assert rows == {
        (day.isoformat(), cur): [w["sent"], w["rescued"], w["amount"], w["expired"], w["pending"], w["rejected"],
                                 w["rate"]]
        for (day, cur), w in seed.EXPECTED_ROWS.items()
    }
    assert frame.locator("#selected-day").inner_text() == seed.DAY2.isoformat()
    assert [(r[0], r[1], r[2], int(r[3]), r[4] or None) for r in _cells(frame, "files")] == [
        (n, k, s, rows_, ack) for n, k, rows_, s, ack in seed.FILES_DAY2]
    assert [tuple(r) for r in _cells(frame, "rejects")] == seed.REJECTS_DAY2
    assert frame.locator("#reject-reasons").inner_text() == "missing_amount: 2, pan_detected: 1"
    events = {(r[2], r[1]): (r[4], r[5]) for r in _cells(frame, "events")}
    sent = {(oid, ev): (shown, cur) for oid, ev, _, cur, shown in WEBHOOKS}
    assert {k: events.get(k) for k in sent} == sent  # (the rescued order's own webhook may be there too)
    # One bar per day, stacked from the day's sums over currencies (seed.SUMMARY, added up by hand).
    assert sorted(frame.locator("#chart rect title").all_text_contents()) == sorted([
        f"{seed.DAY1} rescued: 16", f"{seed.DAY1} expired: 24", f"{seed.DAY1} pending: 6",
        f"{seed.DAY2} rescued: 11", f"{seed.DAY2} expired: 15", f"{seed.DAY2} pending: 13"])
    _shot(page, "flex-view.png")
    frame.get_by_role("link", name=seed.DAY1.isoformat()).first.click()
    expect(frame.locator("#selected-day")).to_have_text(seed.DAY1.isoformat(), timeout=WAIT_MS)


def test_flex_view_needs_an_airflow_login(world: UiWorld):
    url = world.stack.url
    for path in ("/flex-ui/", "/flex-ui/api/overview"):
        assert httpx.get(url + path, timeout=30).status_code == 401
        forged = httpx.get(url + path, headers={"Authorization": "Bearer not-a-jwt"}, timeout=30)
        assert forged.status_code == 403
        ok = httpx.get(url + path, headers={"Authorization": f"Bearer {world.stack.token()}"}, timeout=30)
        assert ok.status_code == 200


def test_a_refund_triggered_from_the_form_runs_and_changes_the_merchant_order(page: Any, world: UiWorld):
    from playwright.sync_api import expect
    from sqlalchemy import text

    page.goto(f"{world.stack.url}/dags/flex_order_action", timeout=WAIT_MS)
    page.get_by_role("button", name=re.compile("^Trigger")).first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog.locator("[name=element_order_id]")).to_be_visible(timeout=WAIT_MS)
    dialog.locator("[name=element_order_id]").fill(REFUND_ORDER)
    dialog.locator("[name=element_reason]").fill("ui test")  # action keeps its default, refund_full
    if dialog.locator("[name=element_request_id]").count():
        dialog.locator("[name=element_request_id]").fill("ui-refund-1")
    with page.expect_response(lambda r: "/dagRuns" in r.url and r.request.method == "POST",
                              timeout=WAIT_MS) as posted:
        dialog.get_by_role("button", name="Trigger", exact=True).click()
    assert posted.value.status == 200, posted.value.text()
    run_id = posted.value.json()["dag_run_id"]
    headers = {"Authorization": f"Bearer {world.stack.token()}"}
    state, deadline = "queued", time.monotonic() + 120
    while state not in ("success", "failed") and time.monotonic() < deadline:
        time.sleep(1)
        world.stack.check_alive()
        state = httpx.get(f"{world.stack.url}/api/v2/dags/flex_order_action/dagRuns/{run_id}", headers=headers,
                          timeout=30).json()["state"]
    _shot(page, "refund-triggered.png")
    assert state == "success"
    engine = create_engine(world.merchant_url)
    with engine.connect() as conn:
        row = conn.execute(text("SELECT status, refunded_amount_cents FROM orders WHERE order_id = :o"),
                           {"o": REFUND_ORDER}).one()
    engine.dispose()
    assert (row.status, row.refunded_amount_cents) == ("REFUNDED", REFUND_CENTS)


def test_the_webhook_secret_is_in_no_page_or_api_response(page: Any, world: UiWorld):
    headers = {"Authorization": f"Bearer {world.stack.token()}"}
    api = [(p, httpx.get(world.stack.url + p, headers=headers, timeout=30).content)
           for p in ("/api/v2/connections?limit=100", "/api/v2/connections/flex_default",
                     "/flex-ui/api/overview", "/flex-ui/")]
    page.goto(f"{world.stack.url}/connections", timeout=WAIT_MS)
    page.wait_for_load_state("networkidle")
    bodies = [*api, *world.responses]  # everything the browser received in this module, plus the REST API
    assert {"/api/v2/connections", "/ui/connections/hook_meta", "/flex-ui/"} <= {
        httpx.URL(u).path for u, _ in world.responses}
    assert len(bodies) > 20
    forms = [world.secret, world.secret.replace("/", "\\/"), httpx.QueryParams({"s": world.secret})["s"]]
    leaks = [url for url, body in bodies if any(f.encode() in body for f in forms)]
    assert leaks == []
    # Positive control: the scanner finds a key Airflow does not mask (the old extra name) ...
    legacy = httpx.get(f"{world.stack.url}/api/v2/connections/flex_legacy", headers=headers, timeout=30).content
    assert LEGACY_SECRET.encode() in legacy
    # ... and the secret scanned for is the one the receiver verifies with (webhooks above were accepted).
    assert world.secret in (world.sandbox.data_dir / "sandbox.json").read_text()
