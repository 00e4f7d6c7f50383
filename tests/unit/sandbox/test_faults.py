"""``flex_provider.sandbox.faults``: the /v1 fault knobs count down, the 5xx ratio is seeded, drops match a route."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from flex_provider.sandbox.faults import Faults, FaultSettings


def test_rate_limit_then_5xx_then_nothing() -> None:
    faults = Faults()
    faults.rate_limit_next, faults.retry_after, faults.fail_next_5xx = 2, 2.5, 1
    assert faults.before() == (429, {"Retry-After": "2.5"})
    assert faults.before() == (429, {"Retry-After": "2.5"})
    assert faults.before() == (500, {})
    assert faults.before() is None
    assert faults.as_dict()["rate_limit_next"] == 0


def test_the_5xx_ratio_is_the_same_sequence_for_the_same_seed() -> None:
    def run(seed: int) -> list[bool]:
        faults = Faults(seed)
        faults.error_ratio_5xx = 0.5
        return [faults.before() is not None for _ in range(200)]

    first = run(3)
    assert first == run(3)
    assert 60 < sum(first) < 140  # about half fail
    assert first != run(4)


def test_a_drop_is_taken_only_on_its_route_and_only_as_often_as_asked() -> None:
    faults = Faults()
    faults.drop_response_after_commit_next, faults.drop_route = 1, "POST /v1/orders/{id}/refund"
    assert faults.take_drop("POST /v1/evaluate") is False
    assert faults.take_drop("POST /v1/orders/{id}/refund") is True
    assert faults.take_drop("POST /v1/orders/{id}/refund") is False
    faults.reset()
    faults.drop_response_after_commit_next = 1
    assert faults.take_drop("GET /v1/orders") is True  # no drop_route: any route


def test_fault_settings_refuse_unknown_knobs_and_ratios_over_one() -> None:
    assert FaultSettings.model_validate({"fail_next_5xx": 2}).model_dump(exclude_none=True) == {"fail_next_5xx": 2}
    with pytest.raises(ValidationError):
        FaultSettings.model_validate({"fail_next": 2})
    with pytest.raises(ValidationError):
        FaultSettings.model_validate({"error_ratio_5xx": 1.5})
