"""``FlexApiBase``: what both hooks share (client options, token key, mid, how an answer is read)."""

from __future__ import annotations

import httpx
import pytest

from flex_provider.exceptions import FlexError
from flex_provider.hooks.api.base import FlexApiBase
from flex_provider.hooks.api.call import Call
from flex_provider.hooks.api.settings import FlexConnectionSettings
from flex_provider.models.api import FlexEnvelope


def _base(**settings: object) -> FlexApiBase:
    values = {"base_url": "https://flex.test/v1", "app_key": "key", "app_secret": "secret", **settings}
    return FlexApiBase("flex_x", settings=FlexConnectionSettings(**values))  # type: ignore[arg-type]


def test_the_client_options_come_from_the_settings_and_the_timeout_argument() -> None:
    base = _base(verify=False, timeout=3.0)
    assert base._client_options(base._require_settings()) == {"base_url": "https://flex.test/v1", "timeout": 3.0, "verify": False}
    override = FlexApiBase("flex_x", timeout=9.0, settings=base._require_settings())
    assert override._client_options(override._require_settings())["timeout"] == 9.0


def test_a_rotated_secret_gets_another_token_key() -> None:
    assert _base()._token_key != _base(app_secret="rotated")._token_key
    assert "secret" not in repr(_base()._token_key)  # only a digest of the secret is in the key


def test_mid_is_the_argument_else_the_connection_else_an_error() -> None:
    assert _base(mid="m-conn")._mid("m-arg") == "m-arg"
    assert _base(mid="m-conn")._mid(None) == "m-conn"
    with pytest.raises(ValueError, match="flex_x"):
        _base()._mid(None)


def test_an_unexpected_body_is_a_flex_error_without_the_input() -> None:
    call = Call("POST", "/orders/x/cancel", FlexEnvelope)
    response = httpx.Response(200, json={"success": "4000002760003184"},
                              request=httpx.Request("POST", "https://flex.test/v1/orders/x/cancel"))  # fmt: skip
    with pytest.raises(FlexError, match="unexpected body") as e:
        _base()._parse(call, response)
    assert "4000002760003184" not in str(e.value)
