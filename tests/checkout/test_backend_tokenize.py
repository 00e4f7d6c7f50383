"""The backend tokenization example of docs/checkout.md, run as written against the session sandbox.

The example's token must be usable in a batch: the batch writer turns it into ``paymentMethod.cardNumber``
with ``token: true`` next to ``senseKey``, and the sandbox's /evaluate (what a batch row goes through)
recognises the card behind it.
"""

from __future__ import annotations

import json
import logging
import re
import runpy
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.checkout.support import APPROVE_CARD, GUID_RE, OTHER_CARD, REPO, pan_hits, sense_payload
from tests.fixtures.sandbox import SandboxProcess

DOC = REPO / "docs" / "checkout.md"
MARKER = "<!-- example: backend-tokenize -->"


def _doc_example(folder: Path) -> Callable[..., dict[str, Any]]:
    """The ``vault_card`` function of the marked code block in docs/checkout.md, run as a module."""
    block = re.search(re.escape(MARKER) + r"\s*```python\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert block, f"{MARKER} block missing in {DOC}"
    module = folder / "checkout_backend_example.py"
    module.write_text(block.group(1))  # the documented code, verbatim
    return runpy.run_path(str(module))["vault_card"]


@pytest.fixture
def vault_card(flex_conn_env: SandboxProcess, tmp_path: Path) -> Callable[..., dict[str, Any]]:
    from flex_provider.hooks.api import TOKEN_CACHE

    TOKEN_CACHE._tokens.clear()
    flex_conn_env.admin("POST", "/faults/reset")
    return _doc_example(tmp_path)


def _card(pan: str) -> dict[str, str]:
    return {"first_name": "Ann", "last_name": "Lee", "number": pan, "verification_value": "123", "month": "09",
            "year": "2030"}


def test_backend_example_returns_a_token_the_batch_ships(
    vault_card: Callable[..., dict[str, Any]], sandbox: SandboxProcess, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from flex_provider.batch.writer import BatchWriter

    caplog.set_level(logging.DEBUG)
    r = sandbox.http.post(sandbox.api_url[: -len("/v1")] + "/sense/collect", json=sense_payload(sandbox.info["mid"]))
    sense_key = r.json()["senseKey"]

    values = vault_card(_card(APPROVE_CARD), sense_key=sense_key, email="ann.lee@example.com")

    assert re.match(GUID_RE, values["flex_token"])
    assert values == {"flex_token": values["flex_token"], "sense_key": sense_key, "card_bin": "400000",
                      "card_last4": "3184", "exp_month": 9, "exp_year": 2030, "card_brand": "VISA"}
    assert sandbox.admin("GET", f"/cards/{values['flex_token']}").json()["behaviour"] == "approve"
    assert not pan_hits([("values", json.dumps(values)), ("log", caplog.text)], APPROVE_CARD)

    now = sandbox.now()  # the session sandbox's clock may be weeks ahead: the row's expiry follows it
    day = now.date() - timedelta(days=1)
    row = {"order_id": "sub-backend-1-2026-12", "transaction_id": "psp-backend-1", "amount_cents": 1999,
           "currency": "USD", "declined_at": f"{day}T06:00:00Z", "response_code": "51",
           "card_token": values["flex_token"], "sense_key": values["sense_key"], "card_bin": values["card_bin"],
           "card_last4": values["card_last4"], "exp_month": values["exp_month"], "exp_year": values["exp_year"],
           "payer_id": "cust-backend-1", "subscription_id": "sub-backend-1"}
    summary = BatchWriter(kind="evaluate", mid=sandbox.info["mid"], business_date=day, out_dir=tmp_path,
                          default_expiry=timedelta(days=22), now=lambda: now).write([[row]])
    assert (summary["written"], summary["rejected"]) == (1, 0), summary
    doc = json.loads((tmp_path / summary["files"][0]).read_text())
    [shipped] = doc["rows"]
    assert shipped["senseKey"] == sense_key
    assert (shipped["paymentMethod"]["cardNumber"], shipped["paymentMethod"]["token"]) == (values["flex_token"], True)

    body = {k: v for k, v in shipped.items() if k != "sequenceNumber"}
    body["expiryDateUtc"] = doc["expiryDateUtc"]
    answer = sandbox.api("POST", "/evaluate", json=body)
    assert answer.status_code == 200, answer.text
    [order] = [o for o in sandbox.admin("GET", "/orders").json() if o["external_order_id"] == row["order_id"]]
    assert (order["card_token"], order["card_behaviour"]) == (values["flex_token"], "approve")


def test_backend_example_refuses_a_card_that_is_not_whitelisted(
    vault_card: Callable[..., dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    from flex_provider.exceptions import FlexValidationError

    caplog.set_level(logging.DEBUG)
    with pytest.raises(FlexValidationError) as info:
        vault_card(_card(OTHER_CARD), sense_key=None)
    assert "PaymentMethod.CreditCard.Number" in str(info.value)
    assert not pan_hits([("error", str(info.value)), ("log", caplog.text)], OTHER_CARD)
