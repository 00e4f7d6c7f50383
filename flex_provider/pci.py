"""Card-number guard rails: detect anything that looks like a PAN and mask it before it reaches a log."""

from __future__ import annotations

import re

# 13 to 19 digits, optionally grouped by single spaces or dashes, not glued to other digits.
_PAN_CANDIDATE = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
# A canonical GUID (8-4-4-4-12 hex). Flex tokens, sense keys and MIDs are GUIDs, and about one random
# GUID in 450 holds a Luhn-valid run of 13+ dash-grouped digits ("20952833-5643-45d6-..."): not a card.
_GUID = re.compile(r"(?<![0-9A-Za-z-])[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}(?![0-9A-Za-z-])")


def _without_guids(text: str) -> str:
    return _GUID.sub("\x00", text) if "-" in text else text


def luhn_valid(digits: str) -> bool:
    """Return True when ``digits`` (digits only) passes the Luhn checksum."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def looks_like_pan(value: object) -> bool:
    """Return True when a value holds 13-19 digits (spaces/dashes allowed, GUIDs aside) that pass Luhn."""
    if value is None or isinstance(value, bool):
        return False
    text = str(value)
    if len(text) < 13:
        return False
    for match in _PAN_CANDIDATE.finditer(_without_guids(text)):
        digits = re.sub(r"[ -]", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            return True
    return False


def mask_pans(text: str) -> str:
    """Replace every Luhn-valid card number in ``text`` by its BIN and last four (PCI DSS 3.4.1); GUIDs stay."""

    def _mask(match: re.Match[str]) -> str:
        digits = re.sub(r"[ -]", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            return f"{digits[:6]}{'*' * (len(digits) - 10)}{digits[-4:]}"
        return match.group()

    if "-" not in text:
        return _PAN_CANDIDATE.sub(_mask, text)
    # Mask between the GUIDs only, so a token or MID in a log line reads as it is.
    out, last = [], 0
    for guid in _GUID.finditer(text):
        out.append(_PAN_CANDIDATE.sub(_mask, text[last : guid.start()]))
        out.append(guid.group())
        last = guid.end()
    out.append(_PAN_CANDIDATE.sub(_mask, text[last:]))
    return "".join(out)
