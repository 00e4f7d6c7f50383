"""One API operation as data (``Call``): described once, run by the sync or the async hook."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel


@dataclass(frozen=True)
class Call:
    """One API operation, described once and run by either twin."""

    method: str
    path: str
    response_model: type[BaseModel] | None
    json: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    auth: bool = True
    check_success: bool = True


def request_headers(token: str | None) -> dict[str, str]:
    """JSON headers for a call, with the bearer token when it needs one."""
    headers = {"Accept": "application/json", "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


