"""``flex_provider.sandbox.sense_schemas``: the SenseJS payload keeps origin and path only, within bounds."""

from __future__ import annotations

from flex_provider.sandbox.schemas import parse
from flex_provider.sandbox.sense_schemas import SenseCollectRequest, SenseCollectResponse

BODY = {"mid": "m-1", "timezone": "UTC", "timezoneOffset": 0, "screen": {"width": 800, "height": 600},
        "userAgent": "ua", "timing": {"loadMs": 1, "widgetMs": 1}}


def test_the_page_loses_its_query_and_fragment() -> None:
    req, errors = parse(SenseCollectRequest, {**BODY, "page": "https://shop.example/pay?card=1#x"})
    assert errors is None
    assert req.page == "https://shop.example/pay"
    assert req.mid == "m-1"


def test_out_of_range_signals_are_refused() -> None:
    assert parse(SenseCollectRequest, {**BODY, "timezoneOffset": 900})[1] == {
        "TimezoneOffset": ["The field TimezoneOffset is invalid."]}
    assert "Screen.Width" in parse(SenseCollectRequest, {**BODY, "screen": {"width": 0, "height": 1}})[1]
    assert parse(SenseCollectRequest, {**BODY, "mid": "  "})[1] == {"Mid": ["The field Mid is invalid."]}


def test_the_answer_is_camel_case() -> None:
    assert SenseCollectResponse(sense_key="k").model_dump(by_alias=True) == {"senseKey": "k"}
