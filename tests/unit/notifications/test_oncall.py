"""``FlexOnCallNotifier``'s alert: which day, which file, what to do; never a secret or a card number."""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace

from airflow.sdk.exceptions import AirflowFailException
from airflow.sdk.log import mask_secret

from flex_provider.notifications.oncall import WHAT_TO_DO, FlexOnCallNotifier, alert_payload

SECRET = "app-secret-never-in-an-alert"
PAN = "4111111111111111"
FILE = "evaluate_mid-1_20261124_0002.json"


def _context(message: str, **extra: object) -> dict:
    return {"exception": AirflowFailException(message), "dag": SimpleNamespace(dag_id="flex_mit_daily"),
            "run_id": "scheduled__2026-11-24", "params": {"business_date": "2026-11-24"}, **extra}  # fmt: skip


def test_a_whole_file_rejection_names_the_day_the_file_and_what_to_do() -> None:
    payload = alert_payload(_context(f"Flex rejected 1 file(s) as a whole: {{'{FILE}': 'token expired'}}"))
    assert payload["kind"] == "rejected"
    assert payload["files"] == [FILE]
    assert (payload["dag_id"], payload["run_id"], payload["business_date"]) == ("flex_mit_daily", "scheduled__2026-11-24", "2026-11-24")
    assert payload["what_to_do"] == WHAT_TO_DO["rejected"]


def test_no_secret_and_no_card_number_reach_the_payload() -> None:
    mask_secret(SECRET)
    payload = alert_payload(_context(f"connect failed with password {SECRET} for card {PAN}"))
    text = str(payload)
    assert SECRET not in text
    assert PAN not in text
    assert payload["kind"] == "failed"


def test_without_a_param_the_day_is_the_data_interval_start() -> None:
    context = _context("boom", params={}, data_interval_start=datetime(2026, 11, 23, 2, tzinfo=timezone.utc))
    assert alert_payload(context)["business_date"] == "2026-11-23"


def test_connection_and_endpoint_are_templated() -> None:
    notifier = FlexOnCallNotifier(http_conn_id="oncall_x", endpoint="/alerts")
    assert set(notifier.template_fields) == {"http_conn_id", "endpoint"}
    assert (notifier.http_conn_id, notifier.endpoint) == ("oncall_x", "/alerts")
