"""
The sandbox's own card-number check (it stands for Flex, so it does not borrow ``flex_provider.pci``).

Flex refuses card data where it expects tokens; the sandbox does the same: a run of 13-19 digits
(spaces or dashes allowed between them) that passes the Luhn check is a card number. GUIDs (tokens,
session keys) are set aside first, since their hex groups can hold such a run.
"""

from __future__ import annotations

import re
from typing import Any

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_CANDIDATE = re.compile(r"(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def holds_card_number(value: Any) -> bool:
    """True when ``value`` (a string; anything else is False) contains a Luhn-valid 13-19 digit run."""
    if not isinstance(value, str) or len(value) < 13:
        return False
    text = _GUID.sub(" ", value)
    return any(_luhn(re.sub(r"[ -]", "", m.group())) for m in _CANDIDATE.finditer(text))
