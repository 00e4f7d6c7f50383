"""Orders in these tests get a rescue window that starts at the sandbox's current time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.api import test_hook


@pytest.fixture(autouse=True)
def _window_from_sandbox_clock(sandbox):
    test_hook.EXPIRY["value"] = (sandbox.now() + timedelta(days=21)).isoformat().replace("+00:00", "Z")
