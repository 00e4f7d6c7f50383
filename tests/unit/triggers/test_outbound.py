"""``FlexOutboundFileTrigger``: what the triggerer stores is plain data that rebuilds the same trigger."""

from __future__ import annotations

import importlib
import json

from flex_provider.triggers.outbound import FlexOutboundFileTrigger


def test_serialize_round_trips_through_plain_json() -> None:
    trigger = FlexOutboundFileTrigger(
        sftp_conn_id="sftp_x", patterns=("ack_*.json",), exclude=("b", "a", "a"), expect=["z", "y"],
        outbound_dir="out", poke_interval=3, settle_interval=1, max_consecutive_failures=2,
    )  # fmt: skip
    classpath, kwargs = trigger.serialize()
    assert classpath == "flex_provider.triggers.outbound.FlexOutboundFileTrigger"
    assert json.loads(json.dumps(kwargs)) == kwargs  # what the triggerer table stores
    assert kwargs == {"sftp_conn_id": "sftp_x", "patterns": ["ack_*.json"], "exclude": ["a", "b"],
                      "expect": ["y", "z"], "outbound_dir": "out", "poke_interval": 3.0,
                      "settle_interval": 1.0, "max_consecutive_failures": 2}  # fmt: skip
    module, name = classpath.rsplit(".", 1)
    again = getattr(importlib.import_module(module), name)(**kwargs)
    assert again.serialize() == (classpath, kwargs)


def test_by_default_it_waits_for_acks_and_results() -> None:
    _, kwargs = FlexOutboundFileTrigger().serialize()
    assert kwargs["patterns"] == ["ack_*.json", "result_*.json"]
    assert kwargs["sftp_conn_id"] == "flex_sftp_default"
