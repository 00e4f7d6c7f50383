"""What both hooks share: settings, the retry policy's arguments and how an answer is read."""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret
from pydantic import ValidationError
from tenacity import (
    retry_if_exception_type,
    stop_after_attempt,
)

from flex_provider import FLEX_CONN_ID
from flex_provider.exceptions import FlexError
from flex_provider.hooks.api.call import Call
from flex_provider.hooks.api.errors import business_error, error_from_response
from flex_provider.hooks.api.retry import RETRYABLE, FlexWait, log_retry
from flex_provider.hooks.api.settings import FlexConnectionSettings

if TYPE_CHECKING:
    import httpx

class FlexApiBase(BaseHook):
    """Settings, operation descriptions and policy shared by the sync and async hooks."""

    conn_name_attr = "flex_conn_id"
    default_conn_name = FLEX_CONN_ID
    conn_type = "flex"
    hook_name = "Flex"

    def __init__(
        self,
        flex_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        backoff_initial: float = 0.5,
        backoff_max: float = 8.0,
        retry_after_cap: float = 60.0,
        settings: FlexConnectionSettings | None = None,
    ) -> None:
        super().__init__()
        self.flex_conn_id = flex_conn_id
        self._timeout = timeout
        self._max_retries = max_retries
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.retry_after_cap = retry_after_cap
        self._settings = settings
        self._client: Any = None  # the hook's httpx client, made on first use

    # settings ---------------------------------------------------------------------------------------

    def _settings_from(self, conn: Any) -> FlexConnectionSettings:
        """Parse the Airflow connection (once) and mask its secrets in the task's logs."""
        settings = FlexConnectionSettings.from_connection(conn)
        for secret in (settings.app_secret, settings.tokenization_key, settings.webhook_secret):
            if secret:
                mask_secret(secret)
        self._settings = settings
        return settings

    def _client_options(self, settings: FlexConnectionSettings) -> dict[str, Any]:
        """What the sync and async httpx clients are built with: base URL, timeout, TLS check."""
        return {"base_url": settings.base_url, "timeout": self.timeout, "verify": settings.verify}

    @property
    def timeout(self) -> float:
        return self._timeout if self._timeout is not None else self._require_settings().timeout

    @property
    def max_retries(self) -> int:
        return self._max_retries if self._max_retries is not None else self._require_settings().max_retries

    def _require_settings(self) -> FlexConnectionSettings:
        if self._settings is None:
            raise RuntimeError("settings not loaded yet")
        return self._settings

    @property
    def _token_key(self) -> tuple[str, str, str]:
        # The secret's digest is part of the key, so a rotated secret never reuses the old token.
        s = self._require_settings()
        return (s.base_url, s.app_key, hashlib.sha256(s.app_secret.encode()).hexdigest()[:16])

    def _retrying_kwargs(self) -> dict[str, Any]:
        return {
            "stop": stop_after_attempt(self.max_retries + 1),
            "wait": FlexWait(self.backoff_initial, self.backoff_max, self.retry_after_cap),
            "retry": retry_if_exception_type(RETRYABLE),
            "before_sleep": log_retry,
            "reraise": True,
        }

    def _mid(self, mid: str | None) -> str:
        value = mid or self._require_settings().mid
        if not value:
            raise ValueError(f"No mid given and connection {self.flex_conn_id!r} has no 'mid' extra")
        return value


    # answers ------------------------------------------------------------------------------------------

    def _parse(self, call: Call, response: httpx.Response) -> Any:
        error = error_from_response(
            response, "authentication" if call.path == "/oauth2/token" else f"{call.method} {call.path}"
        )
        if error is not None:
            raise error
        body: Any = response.json() if response.content else {}
        business = business_error(call, body)
        if business is not None:
            raise business
        if call.response_model is None:
            return body
        try:
            return call.response_model.model_validate(body)
        except ValidationError as exc:
            raise FlexError(
                f"Flex answered {call.method} {call.path} with an unexpected body: "
                f"{exc.errors(include_input=False, include_url=False)}",
                status=response.status_code,
            ) from None

    def _log_answer(self, call: Call, response: httpx.Response, started: float) -> None:
        self.log.debug(
            "Flex %s %s -> %s in %.0f ms",
            call.method,
            call.path,
            response.status_code,
            (time.monotonic() - started) * 1000,
        )

