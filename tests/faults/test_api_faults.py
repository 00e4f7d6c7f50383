"""
Fault 3: API faults from the sandbox knobs (429 bursts with Retry-After, 30 % 5xx, responses dropped
after commit, latency beyond the timeout, token expiry mid-run). Each call succeeds or raises a typed
FlexError; Flex never holds two orders for one merchant order (same idempotency key on every retry).

Calls go through ``FlexEvaluateOperator`` with bodies that carry no key, so the key on the wire is the one
the provider derives; the sandbox runs in strict idempotency mode (only keys dedupe), so a key that changed
between a call, its retries and a rerun would leave two orders at Flex.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from flex_provider.exceptions import FlexConnectionError, FlexError, FlexRateLimitError, FlexServerError
from flex_provider.operators.api import FlexEvaluateOperator
from tests.faults.harness import clear_token_cache
from tests.faults.invariants import check_invariants, check_sent_once
from tests.unit.test_idempotency import pinned_key

_EXPIRY: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _strict_idempotency(fault_sandbox: Any) -> Iterator[None]:
    with fault_sandbox.strict_idempotency():
        yield


class _EvaluateOperator(FlexEvaluateOperator):
    """The provider's evaluate operator (its own key derivation) on a hook with the test's retry timing."""

    def __init__(self, *, hook_kwargs: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hook_kwargs = hook_kwargs

    @property
    def hook(self) -> Any:
        from flex_provider.hooks.api import FlexApiHook

        return FlexApiHook(self.flex_conn_id, **self.hook_kwargs)


def _body(world: Any, order_id: str) -> dict[str, Any]:
    """The same body on every retry and rerun (a new expiry would be a new body: 409); no key in it."""
    expiry = _EXPIRY.setdefault(world.tag, (world.sandbox.now() + timedelta(days=20)).isoformat())
    return {
        "isDeclined": True,
        "isMIT": True,
        "isRecurring": True,
        "orderId": order_id,
        "transaction": {"id": f"psp-{order_id}", "amount": 1999, "currency": "USD"},
        "paymentMethod": {"cardNumber": f"tok_{order_id}", "token": True},
        "expiryDateUtc": expiry,
    }


def _evaluate(world: Any, order_id: str, **hook_kwargs: Any) -> dict[str, Any]:
    return _EvaluateOperator(task_id="evaluate", request=_body(world, order_id), hook_kwargs=hook_kwargs).execute({})


def _send_all(world: Any, ids: list[str], **hook_kwargs: Any) -> tuple[list[str], list[FlexError]]:
    ok, errors = [], []
    for order_id in ids:
        try:
            _evaluate(world, order_id, **hook_kwargs)
            ok.append(order_id)
        except FlexError as exc:  # typed, or the test fails with whatever else escaped
            errors.append(exc)
    return ok, errors


FAULTS = {
    "429_burst": {"rate_limit_next": 4, "retry_after": 1},
    "5xx_ratio_30": {"error_ratio_5xx": 0.3},
    "drop_after_commit": {"drop_response_after_commit_next": 3},
    "latency_beyond_timeout": {"latency_ms": 900},
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_api_fault_calls_succeed_or_fail_typed_and_never_double(make_world, fault: str) -> None:
    world = make_world(
        flex_extra={"timeout": 0.5, "max_retries": 2} if fault == "latency_beyond_timeout" else {}
    )
    ids = [f"api-{world.tag}-{i:05d}" for i in range(1, 9)]
    keys = {i: pinned_key(world.mid, i, "evaluate") for i in ids}
    clear_token_cache()
    from flex_provider.hooks.api import FlexApiHook

    with FlexApiHook("flex_default") as api:
        api.get_token()  # the token call is faulted too; fetch it first so the knobs hit evaluate
    world.sandbox.admin("POST", "/faults", FAULTS[fault])
    ok, errors = _send_all(world, ids, backoff_initial=0.05, backoff_max=0.2)
    world.sandbox.admin("POST", "/faults/reset")
    if fault == "latency_beyond_timeout":
        assert errors and all(isinstance(e, FlexConnectionError) for e in errors)  # noqa: PT018
    elif fault == "5xx_ratio_30":
        assert all(isinstance(e, FlexServerError) for e in errors)
    else:
        assert not errors, errors
    # the rerun (Airflow retry) with the same keys
    again, errors = _send_all(world, [i for i in ids if i not in ok])
    assert not errors
    assert sorted(ok + again) == sorted(ids)
    _, errors = _send_all(world, ids)  # a full rerun: every answer replayed, nothing new
    assert not errors
    check_sent_once(world, ids, keys)


def test_429_without_retries_is_a_typed_rate_limit_error(make_world) -> None:
    world = make_world()
    clear_token_cache()
    from flex_provider.hooks.api import FlexApiHook

    with FlexApiHook("flex_default") as api:
        api.get_token()
    world.sandbox.admin("POST", "/faults", {"rate_limit_next": 5, "retry_after": 2})
    _, errors = _send_all(world, [f"api-{world.tag}-00001"], max_retries=0)
    assert len(errors) == 1 and isinstance(errors[0], FlexRateLimitError) and errors[0].retry_after == 2  # noqa: PT018


def test_token_expiry_mid_run_renews_and_batch_flow_still_converges(make_world) -> None:
    """The token expires between calls (sandbox clock + 11 min); the hook renews it; the batch flow too."""
    world = make_world()
    ids = [f"api-{world.tag}-9{i:04d}" for i in range(4)]
    keys = {i: pinned_key(world.mid, i, "evaluate") for i in ids}
    clear_token_cache()
    _evaluate(world, ids[0])
    world.sandbox.advance(660)  # past the 600 s token life: the cached token is dead
    for order_id in ids[1:]:
        _evaluate(world, order_id)
    check_sent_once(world, ids, keys)
    day = world.business_day()
    world.add_declines(day, 5)
    world.sandbox.admin("POST", "/faults", {"error_ratio_5xx": 0.3})
    summary = world.extract(day)
    for _attempt in range(5):
        try:
            world.ship(summary)
            break
        except FlexError:
            continue
    world.sandbox.admin("POST", "/faults/reset")
    world.ship(summary)
    world.mark(summary)
    world.process_acks(day)
    check_invariants(world)
