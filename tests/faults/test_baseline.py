"""The fault-free path: the checker must pass on it (else every fault test would prove nothing)."""

from __future__ import annotations

from tests.faults.invariants import check_invariants


def test_clean_run_meets_every_invariant(make_world) -> None:
    world = make_world()
    day = world.business_day()
    world.add_declines(day, 8, bad=["missing_amount", "pan_in_description", "duplicate_order"])
    world.ship_day(day)
    check_invariants(world)
    world.finish()
    counts = check_invariants(world, final=True)
    assert counts["shipped"] == 9 and counts["rejected"] == 2  # noqa: PT018
    assert counts["approved"] + counts["expired"] == 9
