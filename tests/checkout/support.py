"""Shared helpers of the checkout tests: test cards, a valid SenseJS payload, PAN scanning."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
#: Whitelisted test card the sandbox always rescues (flex-api.md 5.5).
APPROVE_CARD = "4000002760003184"
#: Luhn-valid public test card that is NOT on the sandbox whitelist.
OTHER_CARD = "5555555555554444"
GUID_RE = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


def artifact_dir(name: str) -> Path:
    """``$FLEX_TEST_ARTIFACTS/<name>`` (default ``tests/artifacts/<name>``), created."""
    root = Path(os.environ.get("FLEX_TEST_ARTIFACTS") or REPO / "tests" / "artifacts")
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def pan_forms(pan: str) -> list[str]:
    """The ways a PAN can be written down: plain, grouped by spaces, grouped by dashes."""
    groups = [pan[i : i + 4] for i in range(0, len(pan), 4)]
    return [pan, " ".join(groups), "-".join(groups)]


def pan_hits(blobs: Iterable[tuple[str, bytes | str]], pan: str) -> list[str]:
    """Names of the blobs that contain ``pan`` in any written form."""
    forms = pan_forms(pan)
    hits = []
    for name, blob in blobs:
        data = blob if isinstance(blob, bytes) else blob.encode()
        if any(form.encode() in data for form in forms):
            hits.append(name)
    return hits


def sense_payload(mid: str, /, **overrides: Any) -> dict[str, Any]:
    """A payload as the sandbox's widget.js sends it after page load."""
    body: dict[str, Any] = {
        "mid": mid,
        "siteId": None,
        "timezone": "Europe/Berlin",
        "timezoneOffset": -60,
        "screen": {"width": 1920, "height": 1080, "availWidth": 1920, "availHeight": 1040, "colorDepth": 24,
                   "pixelRatio": 2},
        "userAgent": "Mozilla/5.0 (X11; Linux x86_64) test",
        "language": "de-DE",
        "languages": ["de-DE", "en"],
        "page": "https://shop.example.com/checkout?order=123",
        "timing": {"domInteractiveMs": 120, "domContentLoadedMs": 150, "loadMs": 310, "widgetMs": 280},
        "widgetVersion": "test",
    }
    body.update(overrides)
    return body
