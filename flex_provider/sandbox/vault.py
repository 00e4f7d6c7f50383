"""The card vault: ``POST /tokenize`` for whitelisted test cards, and the card facts an order carries.

No card number is ever stored: a vault entry keeps BIN, last 4, brand and the test behaviour.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Any

from flex_provider.sandbox.order_store import OrderStore, envelope, iso
from flex_provider.sandbox.problems import problem
from flex_provider.sandbox.schemas import PaymentMethod, TokenizeRequest, parse

#: Whitelisted test cards (flex-api.md 5.5) and what they do in the sandbox.
TEST_CARDS: dict[str, str] = {
    "4000002760003184": "approve",
    "4000300011112220": "decline",
    "4111111111111111": "challenge",
    "51002600235851": "approve",  # Mastercard (14 digits)
}


def _looks_like_pan(value: str | None) -> bool:
    return bool(value) and value.isdigit() and 12 <= len(value) <= 19  # type: ignore[union-attr]


def card_brand(pan_or_bin: str) -> str:
    """Card brand from the first digits."""
    if pan_or_bin.startswith("4"):
        return "visa"
    if pan_or_bin[:2] in ("51", "52", "53", "54", "55") or pan_or_bin[:1] == "2":
        return "master"
    if pan_or_bin[:2] in ("34", "37"):
        return "american_express"
    if pan_or_bin.startswith("6"):
        return "discover"
    return "unknown"


class VaultMixin(OrderStore):
    """Tokenize, look up and resolve cards."""

    def tokenize(self, mid: str, body: Any) -> tuple[int, dict[str, Any]]:
        """``POST /tokenize``: vault a card, keep only BIN, last 4 and its test behaviour."""
        req, errors = parse(TokenizeRequest, body)
        if errors:
            return 400, problem(400, errors)
        assert isinstance(req, TokenizeRequest)
        cc = req.payment_method.credit_card
        pan = cc.number
        if pan not in TEST_CARDS:  # ours: only whitelisted test cards, never real card data (flex-api.md 5.4)
            return 400, problem(400, {"PaymentMethod.CreditCard.Number": [
                "Only whitelisted test cards can be tokenized in the sandbox."]})
        bin6, last4 = pan[:6], pan[-4:]
        brand = card_brand(pan)
        behaviour = TEST_CARDS[pan]
        fingerprint = hmac.new(self._jwt_key, pan.encode(), hashlib.sha256).hexdigest()[:40]
        token = str(uuid.uuid4())
        now = self.clock.timestamp()
        with self._txn() as conn:
            conn.execute(
                "INSERT INTO cards (token, mid, bin, last4, brand, behaviour, created_at) VALUES (?,?,?,?,?,?,?)",
                (token, mid, bin6, last4, brand, behaviour, now),
            )
        masked = "X" * (len(pan) - 4) + last4
        payment_method = {
            "token": token,
            "created_at": iso(now),
            "updated_at": iso(now),
            "email": req.payment_method.email,
            "storage_state": "cached",
            "test": True,
            "payment_method_type": "credit_card",
            "first_name": cc.first_name,
            "last_name": cc.last_name,
            "full_name": f"{cc.first_name} {cc.last_name}",
            "month": int(cc.month),
            "year": int(cc.year),
            "card_type": brand,
            "first_six_digits": bin6,
            "last_four_digits": last4,
            "number": masked,
            "verification_value": "XXX" if cc.verification_value else "",
            "fingerprint": fingerprint,
            "eligible_for_card_updater": True,
            "errors": [],
        }
        transaction = {
            "token": str(uuid.uuid4()),
            "created_at": iso(now),
            "succeeded": True,
            "state": "succeeded",
            "transaction_type": "AddPaymentMethod",
            "message_key": "messages.transaction_succeeded",
            "message": "Succeeded!",
            "on_test_gateway": True,
            "retained": False,
            "payment_method": payment_method,
        }
        card_bin_info = {"bin": bin6, "cardBrand": brand.upper(), "cardType": "CREDIT", "cardCountry": "US"}
        return 200, envelope(transaction=transaction, cardBinInfo=card_bin_info)

    def vault_card(self, token: str) -> dict[str, Any] | None:
        """The vault entry of a card token (no PAN is ever stored: BIN, last 4, brand, behaviour), or None."""
        with self._lock:
            row = self._conn.execute(
                "SELECT token, mid, bin, last4, brand, behaviour, created_at FROM cards WHERE token=?", (token,)
            ).fetchone()
        if row is None:
            return None
        return {**dict(row), "created_at": iso(row["created_at"])}

    def _card(self, mid: str, pm: PaymentMethod) -> dict[str, Any]:
        """Card facts for an order: token (never a PAN), bin, last4 and the behaviour that applies."""
        number = (pm.card_number or "").strip()
        info: dict[str, Any] = {"token": None, "bin": pm.card_bin_number, "last4": pm.card_last4_digits,
                                "behaviour": "seeded"}
        if pm.token is False and _looks_like_pan(number.replace(" ", "")):
            pan = number.replace(" ", "")
            info.update(bin=pan[:6], last4=pan[-4:], behaviour=TEST_CARDS.get(pan, "seeded"))
            return info
        if number and not _looks_like_pan(number):
            info["token"] = number
            with self._lock:
                row = self._conn.execute(
                    "SELECT bin, last4, behaviour FROM cards WHERE token=?", (number,)
                ).fetchone()
            if row is not None:
                info.update(bin=row["bin"], last4=row["last4"], behaviour=row["behaviour"])
        return info
