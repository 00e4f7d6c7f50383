"""The ``flex`` connection, parsed once: base URL, app key and secret, mid, timeouts, retries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from flex_provider.exceptions import FlexAuthError
from flex_provider.webhooks.keys import webhook_keys

if TYPE_CHECKING:
    from airflow.sdk import Connection


DEFAULT_BASE_URL = "https://api-sandbox.flexfactor.io/v1"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 4
#: Refresh a cached token this many seconds before Flex says it expires.


@dataclass(frozen=True)
class FlexConnectionSettings:
    """What a ``flex`` connection holds, parsed once."""

    base_url: str
    app_key: str
    app_secret: str = field(repr=False)
    mid: str | None = None
    site_id: str | None = None
    tokenization_key: str | None = field(default=None, repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    verify: bool = True

    @classmethod
    def from_connection(
        cls, conn: Connection, extra: Mapping[str, Any] | None = None
    ) -> FlexConnectionSettings:
        """Build settings from an Airflow connection (host may be a full URL; empty host = Flex's sandbox)."""
        extra = dict(conn.extra_dejson if extra is None else extra)
        host = (conn.host or "").strip()
        if not host:
            base_url = DEFAULT_BASE_URL
        elif "://" in host:
            base_url = _with_port(host, conn.port)
        else:
            scheme = conn.schema or "https"
            port = f":{conn.port}" if conn.port else ""
            base_url = f"{scheme}://{host}{port}/v1"
        if not conn.login or not conn.password:
            raise FlexAuthError(
                f"Connection {conn.conn_id!r} needs the app key (login) and app secret (password)"
            )

        def _opt(name: str) -> str | None:
            value = extra.get(name)
            return str(value) if value not in (None, "") else None

        return cls(
            base_url=base_url.rstrip("/"),
            app_key=conn.login,
            app_secret=conn.password,
            mid=_opt("mid"),
            site_id=_opt("site_id"),
            tokenization_key=_opt("tokenization_key"),
            webhook_secret=next(iter(webhook_keys(extra)), None),
            timeout=float(extra.get("timeout") or DEFAULT_TIMEOUT),
            max_retries=int(extra["max_retries"])
            if extra.get("max_retries") not in (None, "")
            else DEFAULT_MAX_RETRIES,
            verify=str(extra.get("verify", "true")).lower() not in ("false", "0", "no"),
        )


def _with_port(url: str, port: int | None) -> str:
    """``url`` with the connection's port applied when the URL names none (a differing one is an error).

    The port field is shown in the connection form because Airflow's Test button sends the stored port
    back; keeping it in line with the Base URL makes that check pass.
    """
    if not port:
        return url
    parts = urlsplit(url)
    if parts.port is None:
        return urlunsplit(parts._replace(netloc=f"{parts.netloc}:{port}"))
    if parts.port != int(port):
        raise ValueError(f"port {port} differs from the Base URL's port {parts.port}: leave one of them out")
    return url

