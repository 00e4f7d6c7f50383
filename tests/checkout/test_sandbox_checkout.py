"""The sandbox's checkout routes over HTTP: /widget.js, /sense/collect, the /tokenize whitelist, the demo page.

All against the session sandbox (started without a merchant DB), so the demo endpoint answers "not stored".
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.checkout.support import APPROVE_CARD, GUID_RE, OTHER_CARD, pan_hits, sense_payload
from tests.fixtures.sandbox import SandboxProcess

TRACE_RE = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")


def _root(sb: SandboxProcess) -> str:
    return sb.api_url[: -len("/v1")]


def _collect(sb: SandboxProcess, body: object, **kwargs: object):
    return sb.http.post(_root(sb) + "/sense/collect", json=body, **kwargs)


def _tokenize(sb: SandboxProcess, pan: str):
    card = {"first_name": "Ann", "last_name": "Lee", "number": pan, "verification_value": "123", "month": "09",
            "year": "2030"}
    return sb.api("POST", "/tokenize", token=None,
                  params={"mid": sb.info["mid"], "environment": sb.info["tokenization_key"]},
                  json={"payment_method": {"credit_card": card}})


def test_widget_js_is_served_as_javascript(sandbox: SandboxProcess) -> None:
    r = sandbox.http.get(sandbox.info["widget_url"])
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "/sense/collect" in r.text
    assert "onSenseKey" in r.text
    assert r.headers["traceId"]


def test_sense_collect_stores_signals_and_answers_a_key(sandbox: SandboxProcess) -> None:
    r = _collect(sandbox, sense_payload(sandbox.info["mid"].upper()))  # the mid matches ignoring case
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == "*"
    key = r.json()["senseKey"]
    assert re.match(GUID_RE, key)
    stored = sandbox.admin("GET", f"/sense/{key}").json()
    assert stored["mid"] == sandbox.info["mid"]
    assert re.fullmatch(r"[0-9a-f]{32}", stored["fingerprint"])
    signals = stored["signals"]
    assert signals["timezone"] == "Europe/Berlin"
    assert signals["screen"]["width"] == 1920
    assert signals["timing"]["loadMs"] == 310
    assert signals["page"] == "https://shop.example.com/checkout"  # the query string is dropped
    assert key in [s["senseKey"] for s in sandbox.admin("GET", "/sense").json()]
    assert sandbox.admin("GET", f"/sense/{uuid.uuid4()}").status_code == 404


def test_sense_collect_cors_preflight(sandbox: SandboxProcess) -> None:
    r = sandbox.http.options(_root(sandbox) + "/sense/collect", headers={
        "Origin": "https://shop.example.com", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "*"
    assert "POST" in r.headers["access-control-allow-methods"]
    assert "Content-Type" in r.headers["access-control-allow-headers"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"timezone": ""}, "Timezone"),
        ({"timezone": None}, "Timezone"),
        ({"userAgent": None}, "UserAgent"),
        ({"screen": {"width": 0, "height": 800}}, "Screen.Width"),
        ({"timing": {"loadMs": -1, "widgetMs": 10}}, "Timing.LoadMs"),
        ({"timing": None}, "Timing"),
        ({"timezoneOffset": 5000}, "TimezoneOffset"),
        ({"mid": "00000000-0000-0000-0000-000000000000"}, "Mid"),
        ({"siteId": str(uuid.uuid4())}, "SiteId"),
        ({"languages": [f"l{i}" for i in range(50)]}, "Languages"),
    ],
)
def test_sense_collect_rejects_bad_payloads_with_problem_details(
    sandbox: SandboxProcess, change: dict[str, object], field: str
) -> None:
    before = len(sandbox.admin("GET", "/sense").json())
    r = _collect(sandbox, sense_payload(sandbox.info["mid"], **change))
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["title"] == "One or more validation errors occurred."
    assert body["status"] == 400
    assert field in body["errors"], body["errors"]
    assert TRACE_RE.match(body["traceId"])
    assert body["traceId"] == r.headers["traceId"]
    assert len(sandbox.admin("GET", "/sense").json()) == before


def test_sense_collect_rejects_missing_bad_json_and_card_data(sandbox: SandboxProcess) -> None:
    url = _root(sandbox) + "/sense/collect"
    assert sandbox.http.post(url, content=b"").json()["errors"] == {"$": ["A non-empty request body is required."]}
    assert sandbox.http.post(url, content=b"{nope").json()["errors"] == {"$": ["The JSON value could not be parsed."]}
    assert "$" in sandbox.http.post(url, json=[1, 2]).json()["errors"]
    leaked = sense_payload(sandbox.info["mid"], page=f"https://shop.example.com/pay/{APPROVE_CARD}")
    r = _collect(sandbox, leaked)
    assert r.status_code == 400
    assert r.json()["errors"] == {"$": ["The payload looks like it carries a card number."]}
    assert not pan_hits([("answer", r.content)], APPROVE_CARD)
    state_files = [p for p in Path(sandbox.data_dir).glob("*") if p.name == "sandbox.log" or ".sqlite" in p.name]
    assert any(p.name.startswith("sense.sqlite3") for p in state_files)
    assert not pan_hits([(p.name, p.read_bytes()) for p in state_files], APPROVE_CARD)


def test_tokenize_refuses_a_card_that_is_not_whitelisted(sandbox: SandboxProcess) -> None:
    r = _tokenize(sandbox, OTHER_CARD)
    assert r.status_code == 400
    body = r.json()
    assert body["errors"] == {
        "PaymentMethod.CreditCard.Number": ["Only whitelisted test cards can be tokenized in the sandbox."]}
    assert not pan_hits([("answer", r.content)], OTHER_CARD)
    ok = _tokenize(sandbox, APPROVE_CARD)
    assert ok.status_code == 200
    token = ok.json()["transaction"]["payment_method"]["token"]
    vault = sandbox.admin("GET", f"/cards/{token}").json()
    assert (vault["bin"], vault["last4"], vault["behaviour"]) == ("400000", "3184", "approve")
    assert sandbox.admin("GET", f"/cards/{uuid.uuid4()}").status_code == 404


def test_demo_page_embeds_the_snippet_and_a_strict_csp(sandbox: SandboxProcess) -> None:
    r = sandbox.http.get(sandbox.info["checkout_url"])
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "{{" not in r.text  # every placeholder filled
    assert f"var MID = '{sandbox.info['mid']}'" in r.text
    assert f"var scriptSrc = '{sandbox.info['widget_url']}'" in r.text
    assert "fc('init', MID, siteId);" in r.text
    csp = r.headers["content-security-policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    assert r.text.count(f'nonce="{nonce}"') == 3  # style + snippet + page script, nothing else runs
    assert "connect-src 'self'" in csp
    assert r.headers["cache-control"] == "no-store"
    assert sandbox.info["app_secret"] not in r.text  # only the page-side tokenization key is in the page


def test_merchant_endpoint_without_db_says_not_stored_and_refuses_pans(sandbox: SandboxProcess) -> None:
    url = _root(sandbox) + "/demo/checkout/cards"
    card = {"token": str(uuid.uuid4()), "senseKey": str(uuid.uuid4()), "cardBin": "400000", "cardLast4": "3184",
            "expMonth": 9, "expYear": 2030}
    assert sandbox.info["merchant_db_configured"] is False
    r = sandbox.http.post(url, json=card)
    assert r.status_code == 200
    assert r.json()["stored"] is False
    assert "--merchant-db-url" in r.json()["message"]
    for field in ("token", "senseKey", "cardBrand"):
        bad = sandbox.http.post(url, json={**card, field: APPROVE_CARD})
        assert bad.status_code == 400, field
        assert field[:1].upper() + field[1:] in bad.json()["errors"]
        assert not pan_hits([("answer", bad.content)], APPROVE_CARD)
    unknown = sandbox.http.post(url, json={**card, "cardNumber": "x"})
    assert unknown.status_code == 400


def test_openapi_documents_the_checkout_routes(sandbox: SandboxProcess) -> None:
    doc = sandbox.http.get(_root(sandbox) + "/openapi.json").json()
    assert {"/widget.js", "/sense/collect", "/demo/checkout", "/demo/checkout/cards", "/_sandbox/cards/{token}",
            "/_sandbox/sense/{sense_key}"} <= set(doc["paths"])
    body = doc["paths"]["/sense/collect"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/SenseCollectRequest"}
    schema = doc["components"]["schemas"]["SenseCollectRequest"]
    assert {"mid", "timezone", "screen", "userAgent", "timing"} <= set(schema["required"])
    assert "SenseTiming" in doc["components"]["schemas"]


def test_unreachable_merchant_db_answers_503_and_never_shows_its_password(
    sandbox_factory: Callable[..., SandboxProcess],
) -> None:
    # Port 1 refuses at once; the password must appear in no file and no answer.
    sb = sandbox_factory("--merchant-db-url", "postgresql+psycopg2://shop:s3cr3t-pw@127.0.0.1:1/merchant")
    assert sb.info["merchant_db_configured"] is True
    card = {"token": str(uuid.uuid4()), "senseKey": str(uuid.uuid4()), "cardBin": "400000", "cardLast4": "3184",
            "expMonth": 9, "expYear": 2030}
    r = sb.http.post(_root(sb) + "/demo/checkout/cards", json=card)
    assert r.status_code == 503
    assert r.json()["detail"] == "The merchant DB is not reachable; nothing stored."
    assert TRACE_RE.match(r.json()["traceId"])
    files = [(p.name, p.read_bytes()) for p in Path(sb.data_dir).glob("*") if p.is_file()]
    assert not [name for name, data in files if b"s3cr3t-pw" in data]
    assert b"merchant DB write failed (OperationalError)" in dict(files)["sandbox.log"]
    assert b"shop:***@127.0.0.1:1/merchant" in dict(files)["sandbox.log"]
