"""The demo checkout in headless Chromium (Playwright), against a sandbox storing into a PostgreSQL merchant DB.

One browser run per module (``checkout``): open ``/demo/checkout``, wait for SenseJS's key, fill a
whitelisted test card, submit, wait (bounded) for the token and the merchant's "stored". The tests then
check where things landed: the sense session and the vault in the sandbox, the ``card_tokens`` row in the
merchant DB, the absence of the card number everywhere but the browser -> Flex request, and finally that a
declined renewal of the new subscription is extracted into an evaluate batch row carrying ``senseKey``
and the token with ``token: true``. A screenshot is saved to ``tests/artifacts/checkout/`` (or
``$FLEX_TEST_ARTIFACTS/checkout/``).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.checkout.support import APPROVE_CARD, GUID_RE, artifact_dir, pan_hits
from tests.dags.support import SQL, FlexWorld
from tests.fixtures.postgres import fresh_database, pg_url
from tests.fixtures.sandbox import SandboxProcess
from tests.servers import server_missing

CHROMIUM = os.environ.get("FLEX_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
TIMEZONE = "America/Chicago"
SCREEN = {"width": 1440, "height": 900}
WAIT_MS = 15_000
CARDS_PATH = "/demo/checkout/cards"


@dataclass
class CheckoutRun:
    """What one browser checkout produced and what the browser saw."""

    token: str
    sense_key: str
    shown: dict[str, str]
    user_agent: str
    card_input_after: str
    screenshot: Path
    seconds: float
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    console: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlexWorld]:
    """A fresh PostgreSQL merchant DB (no tables yet) and a sandbox told to store checkouts into it."""
    mp = pytest.MonkeyPatch()
    base = tmp_path_factory.mktemp("checkout")
    with fresh_database("flex_checkout") as db:
        sandbox = SandboxProcess(base / "sandbox", ["--merchant-db-url", pg_url(db)]).start()
        w = FlexWorld(base, db, sandbox, mp)
        try:
            yield w
        finally:
            w.dispose()
            sandbox.stop()
            mp.undo()


def _chromium() -> str:
    if not Path(CHROMIUM).exists():
        server_missing(f"{CHROMIUM} missing: apt-get install chromium (scripts/setup.sh does)")
    return CHROMIUM


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright (it cannot download its own browser here)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = _chromium()
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def _open_checkout(browser: Any, url: str, requests: list[tuple[str, str, str | None]],
                   console: list[str]) -> Any:
    """A fresh context (fixed timezone and screen) on the checkout page, recording requests and console."""
    context = browser.new_context(timezone_id=TIMEZONE, locale="en-US", screen=SCREEN,
                                  viewport={"width": 1000, "height": 900})
    page = context.new_page()
    page.on("request", lambda r: requests.append((r.method, r.url, r.post_data)))
    page.on("console", lambda m: console.append(m.text))
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    page.goto(url, timeout=WAIT_MS)
    return page


def _pay(page: Any, out: Path, console: list[str], *, stored: str) -> None:
    """Wait for the sense key, fill the test card, submit, wait (bounded) until the page says ``stored``."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    try:
        # Locator assertions, not wait_for_function: the page's CSP forbids eval, which that polls with.
        expect(page.locator("#sense-key")).to_have_text(re.compile(GUID_RE), timeout=WAIT_MS)
        page.fill("#card-number", " ".join(APPROVE_CARD[i : i + 4] for i in range(0, 16, 4)))
        page.fill("#exp-month", "09")
        page.fill("#exp-year", "2030")
        page.fill("#cvv", "123")
        page.click("#pay")
        expect(page.locator("#store-status")).to_have_attribute("data-stored", stored, timeout=WAIT_MS)
    except (PlaywrightTimeout, AssertionError):
        page.screenshot(path=str(out / "checkout-timeout.png"), full_page=True)
        raise AssertionError(
            f"checkout did not finish within {WAIT_MS} ms: {page.inner_text('#result')!r} "
            f"{page.inner_text('#message')!r}; console {console}; screenshot in {out}") from None


@pytest.fixture(scope="module")
def checkout(world: FlexWorld, browser: Any) -> CheckoutRun:
    """Run the checkout once in headless Chromium; keep every request the page made."""
    out = artifact_dir("checkout")
    requests: list[tuple[str, str, str | None]] = []
    console: list[str] = []
    started = time.monotonic()
    page = _open_checkout(browser, world.sandbox.info["checkout_url"], requests, console)
    try:
        _pay(page, out, console, stored="true")
        shot = out / "checkout.png"
        page.screenshot(path=str(shot), full_page=True)
        shown = {name: page.inner_text(f"#{name}") for name in ("sense-key", "token", "card", "store-status")}
        run = CheckoutRun(
            token=shown["token"], sense_key=shown["sense-key"], shown=shown,
            user_agent=page.evaluate("navigator.userAgent"), card_input_after=page.input_value("#card-number"),
            screenshot=shot, seconds=time.monotonic() - started, requests=requests, console=console,
        )
    finally:
        page.context.close()
    print(f"checkout screenshot: {shot} (browser part {run.seconds:.1f} s)")
    return run


def _card_rows(world: FlexWorld) -> list[dict[str, Any]]:
    return world.rows("SELECT * FROM card_tokens ORDER BY id")


def _dump_merchant_db(world: FlexWorld) -> list[tuple[str, str]]:
    """Every row of every table of the merchant DB, all columns as text: (table, row text)."""
    from sqlalchemy import inspect

    out = []
    for table in inspect(world.engine).get_table_names():
        for row in world.rows(f'SELECT * FROM "{table}"'):
            out.append((table, json.dumps(row, default=str)))
    return out


def test_page_shows_token_and_sense_key(checkout: CheckoutRun) -> None:
    assert re.match(GUID_RE, checkout.token), checkout.shown
    assert re.match(GUID_RE, checkout.sense_key), checkout.shown
    assert checkout.shown["card"] == "visa 400000…3184 exp 9/2030"
    assert checkout.shown["store-status"].startswith("stored: card_tokens.id ")
    assert checkout.card_input_after == ""  # the page forgets the PAN once Flex has it
    assert checkout.screenshot.stat().st_size > 10_000
    assert not [m for m in checkout.console if "error" in m.lower()], checkout.console
    assert checkout.seconds < 30


def test_sandbox_recorded_the_sense_session_and_vaulted_the_card(
    world: FlexWorld, checkout: CheckoutRun
) -> None:
    sb = world.sandbox
    session = sb.admin("GET", f"/sense/{checkout.sense_key}").json()
    signals = session["signals"]
    assert session["mid"] == sb.info["mid"]
    assert session["siteId"] == sb.info["site_id"]
    assert signals["timezone"] == TIMEZONE
    assert signals["timezoneOffset"] in (300, 360)  # CDT / CST
    assert (signals["screen"]["width"], signals["screen"]["height"]) == (SCREEN["width"], SCREEN["height"])
    assert signals["userAgent"] == checkout.user_agent
    assert signals["language"] == "en-US"
    assert signals["page"] == sb.info["checkout_url"]
    timing = signals["timing"]
    assert timing["loadMs"] > 0
    assert timing["widgetMs"] > 0
    assert 0 < timing["domContentLoadedMs"] <= timing["loadMs"]
    vault = sb.admin("GET", f"/cards/{checkout.token}").json()
    assert (vault["mid"], vault["bin"], vault["last4"], vault["brand"], vault["behaviour"]) == (
        sb.info["mid"], "400000", "3184", "visa", "approve")


def test_merchant_db_holds_token_and_sense_key_and_a_linked_subscription(
    world: FlexWorld, checkout: CheckoutRun
) -> None:
    cards = _card_rows(world)
    assert len(cards) == 1
    card = cards[0]
    assert (card["flex_token"], card["sense_key"]) == (checkout.token, checkout.sense_key)
    assert (card["card_bin"], card["card_last4"], card["exp_month"], card["exp_year"]) == ("400000", "3184", 9, 2030)
    assert (card["card_brand"], card["holder_name"]) == ("VISA", "Ann Lee")
    subs = world.rows("SELECT * FROM subscriptions WHERE card_token_id = :id", id=card["id"])
    assert len(subs) == 1
    assert subs[0]["customer_id"] == card["customer_id"]
    assert subs[0]["status"] == "active"
    assert subs[0]["subscription_id"] in checkout.shown["store-status"]


def test_card_number_is_nowhere_but_the_browser_to_flex_request(world: FlexWorld, checkout: CheckoutRun) -> None:
    # The page's requests: the PAN goes to Flex's /tokenize only (positive control: the capture sees it).
    tokenize = [r for r in checkout.requests if "/v1/tokenize" in r[1]]
    assert len(tokenize) == 1
    assert pan_hits([("tokenize", tokenize[0][2] or "")], APPROVE_CARD)
    merchant = [r for r in checkout.requests if r[1].endswith(CARDS_PATH)]
    assert len(merchant) == 1
    assert checkout.token in (merchant[0][2] or "")
    assert not pan_hits([(f"{m} {u}", f"{u}\n{body or ''}") for m, u, body in checkout.requests
                         if "/v1/tokenize" not in u], APPROVE_CARD)
    assert not pan_hits([("console", "\n".join(checkout.console))], APPROVE_CARD)

    # The merchant DB: every column of every table (positive control: the dump holds the token).
    dump = _dump_merchant_db(world)
    assert any(checkout.token in text for _, text in dump)
    assert not pan_hits(dump, APPROVE_CARD)

    # The sandbox's files: log, sandbox.json, state DB (its vault keeps BIN/last 4 only), sense DB, keys...
    files = {p: p.read_bytes() for p in Path(world.sandbox.data_dir).rglob("*") if p.is_file()}
    names = {p.name for p in files}
    assert {"sandbox.log", "sandbox.json", "sandbox.sqlite3", "sense.sqlite3"} <= names
    assert b"POST /v1/tokenize -> 200" in files[world.sandbox.log_path]
    assert any(checkout.token.encode() in data for p, data in files.items() if p.name.startswith("sandbox.sqlite3"))
    assert any(checkout.sense_key.encode() in data for p, data in files.items() if p.name.startswith("sense.sqlite3"))
    assert not pan_hits([(str(p), data) for p, data in files.items()], APPROVE_CARD)


def test_declined_renewal_ships_sense_key_and_token(world: FlexWorld, checkout: CheckoutRun) -> None:
    from sqlalchemy import insert

    from flex_provider.merchant.schema import orders, ts
    from flex_provider.operators.batch import ExtractDeclinesOperator

    card = _card_rows(world)[0]
    sub = world.rows("SELECT * FROM subscriptions WHERE card_token_id = :id", id=card["id"])[0]
    day = world.sandbox.now().date() - timedelta(days=1)
    start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    order_id = f"{sub['subscription_id']}-renewal-2"
    with world.engine.begin() as conn:
        conn.execute(insert(orders).values(
            order_id=order_id, subscription_id=sub["subscription_id"], customer_id=sub["customer_id"],
            card_token_id=card["id"], payment_number=2, is_mit=True, is_recurring=True, amount_cents=1999,
            currency="USD", psp_name="demo-psp", psp_transaction_id="psp-renewal-2",
            attempted_at=ts(start + timedelta(hours=12)), response_status="DECLINED", decline_code="51",
            decline_message="Insufficient funds", status="DECLINED"))
    out_dir = world.batch_dir / "evaluate" / day.isoformat()
    summary = ExtractDeclinesOperator(
        task_id="extract", sql=str(SQL / "extract_declined_mit.sql"),
        parameters={"window_start": ts(start), "window_end": ts(start + timedelta(days=1))},
        business_date=day.isoformat(), out_dir=str(out_dir), mid=world.mid, expiry_days=21,
    ).execute({})
    rejects = Path(summary["rejects_file"]).read_text() if summary.get("rejects_file") else ""
    assert (summary["extracted"], summary["written"], summary["rejected"]) == (1, 1, 0), (summary, rejects)
    raw = (out_dir / summary["files"][0]).read_bytes()
    doc = json.loads(raw)
    [row] = doc["rows"]
    assert row["orderId"] == order_id
    assert row["senseKey"] == checkout.sense_key
    pm = row["paymentMethod"]
    assert (pm["cardNumber"], pm["token"]) == (checkout.token, True)
    assert (pm["cardBinNumber"], pm["cardLast4Digits"], pm["expirationMonth"], pm["expirationYear"]) == (
        "400000", "3184", 9, 2030)
    assert row["subscription"]["subscriptionId"] == sub["subscription_id"]
    assert not pan_hits([("batch file", raw)], APPROVE_CARD)

    # Flex takes the row and knows the card behind the token (the whitelisted card that gets rescued).
    body = {k: v for k, v in row.items() if k != "sequenceNumber"}
    body["expiryDateUtc"] = doc["expiryDateUtc"]
    r = world.sandbox.api("POST", "/evaluate", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "SUBMITTED"
    [order] = [o for o in world.sandbox_orders() if o["external_order_id"] == order_id]
    assert (order["card_token"], order["card_behaviour"], order["planned"]) == (checkout.token, "approve", "approve")
    assert not pan_hits(_dump_merchant_db(world), APPROVE_CARD)  # the ledger tables too


def test_page_without_merchant_db_tokenizes_and_says_not_stored(sandbox: SandboxProcess, browser: Any) -> None:
    """The session sandbox has no --merchant-db-url: the page still shows token and key, and says so."""
    out = artifact_dir("checkout")
    requests: list[tuple[str, str, str | None]] = []
    console: list[str] = []
    page = _open_checkout(browser, sandbox.info["checkout_url"], requests, console)
    try:
        _pay(page, out, console, stored="false")
        assert re.match(GUID_RE, page.inner_text("#token"))
        assert re.match(GUID_RE, page.inner_text("#sense-key"))
        assert page.inner_text("#store-status") == "not stored"
        assert "--merchant-db-url" in page.inner_text("#message")
        page.screenshot(path=str(out / "checkout-not-stored.png"), full_page=True)
    finally:
        page.context.close()
