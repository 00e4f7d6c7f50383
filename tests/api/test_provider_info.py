"""The provider is discovered by Airflow and exposes the ``flex`` connection form."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def _airflow(*args: str) -> str:
    env = dict(os.environ, AIRFLOW__CORE__LOAD_EXAMPLES="False")
    result = subprocess.run(
        [str(BIN / "airflow"), *args], capture_output=True, text=True, env=env, timeout=180, check=True
    )
    return result.stdout


def test_providers_list_shows_the_provider():
    assert "airflow-provider-flex" in _airflow("providers", "list")


def test_providers_hooks_shows_the_flex_connection_type():
    out = _airflow("providers", "hooks")
    assert "flex" in out
    assert "flex_provider.hooks.api.FlexApiHook" in out


def test_connection_form_fields_are_exposed():
    from airflow.providers_manager import ProvidersManager

    pm = ProvidersManager()
    widgets = pm.connection_form_widgets
    for name in ("mid", "site_id", "tokenization_key", "webhook_secret", "timeout", "max_retries"):
        assert f"extra__flex__{name}" in widgets, name
    behaviour = pm.field_behaviours["flex"]
    assert behaviour["relabeling"]["login"] == "App key"
    assert behaviour["relabeling"]["password"] == "App secret"
    assert "schema" in behaviour["hidden_fields"]
