"""Flex's error bodies as the sandbox answers them: ASP.NET problem details and validation error maps.

Flex's API is ASP.NET: an invalid body gets HTTP 400 "problem details" whose ``errors`` map PascalCase
field paths to messages (``{"Transaction.Amount": ["The Amount field is required."]}``), and every
problem carries a ``traceId``. :func:`validation_errors` turns a pydantic error into that map.
"""

from __future__ import annotations

import secrets
from typing import Any

from pydantic import ValidationError

VALIDATION_TITLE = "One or more validation errors occurred."


def new_trace_id() -> str:
    """A W3C traceparent-like id as ASP.NET puts it in problem details: ``00-<32hex>-<16hex>-01``."""
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def problem(status: int, errors: dict[str, list[str]] | None = None, *, title: str | None = None,
            detail: str | None = None, trace_id: str | None = None) -> dict[str, Any]:
    """An ASP.NET problem-details body (400 validation shape when ``errors`` is given)."""
    titles = {400: VALIDATION_TITLE, 401: "Unauthorized", 404: "Not Found", 409: "Conflict",
              429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}
    body: dict[str, Any] = {
        "type": f"https://tools.ietf.org/html/rfc9110#section-15.{5 if status < 500 else 6}",
        "title": title or titles.get(status, "Error"),
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if errors is not None:
        body["errors"] = errors
    body["traceId"] = trace_id or new_trace_id()
    return body


def _pascal(part: str) -> str:
    if "_" in part:
        return "".join(p[:1].upper() + p[1:] for p in part.split("_") if p)
    return part[:1].upper() + part[1:]


def validation_errors(exc: ValidationError) -> dict[str, list[str]]:
    """Map a pydantic error to ASP.NET's ``{PascalCase.Path: [message, ...]}``."""
    out: dict[str, list[str]] = {}
    for err in exc.errors():
        parts: list[str] = []
        for item in err["loc"]:
            if isinstance(item, int):
                if parts:
                    parts[-1] += f"[{item}]"
                else:
                    parts.append(f"[{item}]")
            else:
                parts.append(_pascal(str(item)))
        path = ".".join(parts) or "$"
        last = parts[-1].split("[")[0] if parts else "body"
        inp = err.get("input")
        if err["type"] == "missing" or inp is None or inp == "":
            msg = f"The {last} field is required."
        elif err["type"] == "model_type" and not parts:
            path, msg = "$", "The request body must be a JSON object."
        else:
            msg = f"The field {last} is invalid."
        out.setdefault(path, []).append(msg)
    return out
