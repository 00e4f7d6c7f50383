"""The default connection ids (``flex_provider.FLEX_CONN_ID`` ...): defined once, used by hooks, operators, config."""

from __future__ import annotations

import inspect

import flex_provider
from flex_provider.get_provider_info import get_provider_info
from flex_provider.hooks.api import FlexApiAsyncHook, FlexApiHook
from flex_provider.hooks.sftp import FlexSftpHook
from flex_provider.operators.extract import WriteBatchOperator
from flex_provider.operators.project import FlexProjectOrdersOperator
from flex_provider.operators.ship import ShipBatchOperator

EXPECTED = {"FLEX_CONN_ID": "flex_default", "SFTP_CONN_ID": "flex_sftp_default",
            "MERCHANT_CONN_ID": "flex_merchant_db", "LEDGER_CONN_ID": "flex_ledger_db"}  # fmt: skip


def _default(cls: type, arg: str) -> object:
    for klass in cls.__mro__:
        params = inspect.signature(klass.__init__).parameters
        if arg in params:
            return params[arg].default
    raise AssertionError(f"{cls.__name__} takes no {arg}")


def test_the_ids_are_the_documented_names() -> None:
    assert {n: getattr(flex_provider, n) for n in flex_provider.__all__ if n != "__version__"} == EXPECTED


def test_hooks_operators_and_config_use_the_same_ids() -> None:
    assert FlexApiHook.default_conn_name == FlexApiAsyncHook.default_conn_name == EXPECTED["FLEX_CONN_ID"]
    assert FlexSftpHook.default_conn_name == EXPECTED["SFTP_CONN_ID"]
    assert _default(WriteBatchOperator, "merchant_conn_id") == EXPECTED["MERCHANT_CONN_ID"]
    assert _default(WriteBatchOperator, "ledger_conn_id") == EXPECTED["LEDGER_CONN_ID"]
    assert _default(ShipBatchOperator, "sftp_conn_id") == EXPECTED["SFTP_CONN_ID"]
    assert _default(ShipBatchOperator, "flex_conn_id") == EXPECTED["FLEX_CONN_ID"]
    assert _default(FlexProjectOrdersOperator, "merchant_conn_id") == EXPECTED["MERCHANT_CONN_ID"]
    options = get_provider_info()["config"]["flex"]["options"]
    assert options["merchant_conn_id"]["default"] == EXPECTED["MERCHANT_CONN_ID"]
    assert options["webhook_conn_id"]["default"] == EXPECTED["FLEX_CONN_ID"]
    assert options["ledger_conn_id"]["example"] == EXPECTED["LEDGER_CONN_ID"]
