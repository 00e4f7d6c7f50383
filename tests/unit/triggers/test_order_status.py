"""``FlexOrderStatusTrigger``: plain-data serialize round trip, and when a status ends the wait."""

from __future__ import annotations

import importlib
import json

from flex_provider.triggers.order_status import FlexOrderStatusTrigger


def test_serialize_round_trips_through_plain_json() -> None:
    trigger = FlexOrderStatusTrigger("osk-1", flex_conn_id="flex_x", poll_interval=5, target_statuses=(7, 8))
    classpath, kwargs = trigger.serialize()
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert kwargs == {"order_session_key": "osk-1", "flex_conn_id": "flex_x", "poll_interval": 5, "target_statuses": [7, 8]}
    module, name = classpath.rsplit(".", 1)
    assert getattr(importlib.import_module(module), name)(**kwargs).serialize() == (classpath, kwargs)


def test_the_wait_ends_on_a_target_status_else_on_a_final_one() -> None:
    targeted = FlexOrderStatusTrigger("osk-1", target_statuses=[7])
    assert targeted._done(7, is_final=False)
    assert not targeted._done(8, is_final=True)  # final, but not what was asked for
    any_final = FlexOrderStatusTrigger("osk-1")
    assert any_final._done(8, is_final=True)
    assert not any_final._done(0, is_final=False)
