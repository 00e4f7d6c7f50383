"""Signature scheme, event model and order-state precedence (no servers)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from flex_provider.models.webhooks import FlexWebhookEvent
from flex_provider.webhooks.signature import (
    SignatureError,
    format_http_date,
    sign_request,
    verify_request,
)
from flex_provider.webhooks.store import WebhookStore

KEY = base64.b64encode(b"k" * 32).decode()
OTHER = base64.b64encode(b"o" * 32).decode()
NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=timezone.utc)


def test_sign_matches_the_documented_scheme():
    body = b'{"Event":"order.completed"}'
    nonce = "0123456789abcdef0123456789abcdef"
    headers = sign_request(body, KEY, "hooks.example:8443", nonce=nonce, date=NOW)
    date = "Wed, 25 Nov 2026 12:00:00 GMT"
    chash = base64.b64encode(hashlib.sha512(body).digest()).decode()
    sts = f"POST\n{nonce};{date};hooks.example:8443;{chash}"
    sig = base64.b64encode(hmac.new(b"k" * 32, sts.encode(), hashlib.sha512).digest()).decode()
    assert headers == {
        "x-fc-authorization": f"HMAC-SHA512 SignedHeaders=x-fc-nonce;x-fc-date;host;x-fc-content-sha512&Signature={sig}",
        "x-fc-content-sha512": chash,
        "x-fc-date": date,
        "x-fc-nonce": nonce,
        "x-fc-signature": sig,
    }
    assert format_http_date(NOW) == date


def _verify(headers, body=b"{}", keys=(KEY,), host="h", now=NOW, tolerance=300):
    return verify_request(headers, body, list(keys), host, tolerance_seconds=tolerance, now=now)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda h, b: (h, b + b" "), "content_hash_mismatch"),
        (lambda h, b: ({**h, "x-fc-content-sha512": base64.b64encode(hashlib.sha512(b"x").digest()).decode()}, b"x"),
         "bad_signature"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "x-fc-nonce"}, b), "missing_header"),
        (lambda h, b: ({**h, "x-fc-nonce": "nothex"}, b), "bad_nonce"),
        (lambda h, b: ({**h, "x-fc-date": "yesterday"}, b), "bad_date"),
        (lambda h, b: ({**h, "x-fc-authorization": "Bearer x"}, b), "bad_authorization"),
        (lambda h, b: ({**h, "x-fc-authorization": h["x-fc-authorization"].replace("host;", "")}, b),
         "bad_signed_headers"),
    ],
)  # fmt: skip
def test_verify_rejects(mutate, reason):
    body = b'{"a":1}'
    headers, body = mutate(sign_request(body, KEY, "h", date=NOW), body)
    with pytest.raises(SignatureError) as err:
        _verify(headers, body)
    assert err.value.reason == reason


def test_verify_window_host_and_rotation():
    body = b"{}"
    ok = sign_request(body, KEY, "h", date=NOW)
    assert _verify(ok, body).key_index == 0
    assert _verify(ok, body, keys=(OTHER, KEY)).key_index == 1  # rotation: the old key still matches
    with pytest.raises(SignatureError, match="signature"):
        _verify(ok, body, keys=(OTHER,))
    with pytest.raises(SignatureError, match="signature"):
        _verify(ok, body, host="evil")
    with pytest.raises(SignatureError) as stale:
        _verify(ok, body, now=NOW + timedelta(seconds=301))
    assert stale.value.reason == "stale_date"
    with pytest.raises(SignatureError) as future:
        _verify(ok, body, now=NOW - timedelta(seconds=301))
    assert future.value.reason == "future_date"
    assert _verify(ok, body, now=NOW + timedelta(seconds=299))


def test_model_pascal_case_extra_and_dedupe():
    wire = {
        "Event": "order.completed", "TimeStamp": "2023-03-20T17:16:40.898703Z", "EventData": None,
        "ExternalOrderId": "ext-1", "OrderId": "ord-1", "ConfirmationId": "22ACD1D9", "IsTestMode": True,
        "IsResent": False, "Amount": 1299, "Currency": "USD", "SomethingNew": {"x": 1},
    }  # fmt: skip
    ev = FlexWebhookEvent.model_validate_json(json.dumps(wire))
    assert (ev.event, ev.order_id, ev.external_order_id, ev.amount, ev.status) == (
        "order.completed", "ord-1", "ext-1", 1299, "APPROVED")  # fmt: skip
    assert ev.model_extra == {"SomethingNew": {"x": 1}}
    assert ev.to_wire()["TimeStamp"] == wire["TimeStamp"]
    same = FlexWebhookEvent.model_validate(
        {**wire, "TimeStamp": "2023-03-20T18:16:40.898703+01:00", "IsResent": True}
    )
    assert same.dedupe_key == ev.dedupe_key
    assert FlexWebhookEvent.model_validate({**wire, "Event": "order.refunded"}).dedupe_key != ev.dedupe_key
    for bad in (
        {"TimeStamp": wire["TimeStamp"]},
        {"Event": "order.completed"},
        {**wire, "TimeStamp": "soon"},
    ):
        with pytest.raises(ValueError):  # noqa: PT011
            FlexWebhookEvent.model_validate(bad)


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
