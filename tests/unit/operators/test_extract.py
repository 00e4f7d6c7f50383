"""The extract operator works out its own business day, SQL window and folder (no resolve_window task)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from flex_provider.operators.extract import ExtractDeclinesOperator, file_groups

DAY = date(2026, 11, 20)


def _op(**kwargs: object) -> ExtractDeclinesOperator:
    return ExtractDeclinesOperator(task_id="extract", sql="SELECT 1", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("unset", [None, "", "None", "  "])
def test_unset_business_date_falls_back_to_the_data_interval_day_in_utc(unset: object) -> None:
    # 23:30 at UTC-5 is the next day in UTC: the UTC day counts.
    start = datetime(2026, 11, 19, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert _op(business_date=unset).resolve_day({"data_interval_start": start}) == DAY


def test_business_date_wins_over_the_data_interval() -> None:
    start = datetime(2026, 1, 2, 2, 0, tzinfo=timezone.utc)
    assert _op(business_date="2026-11-20").resolve_day({"data_interval_start": start}) == DAY


def test_manual_run_without_a_data_interval_takes_yesterday_utc() -> None:
    yesterday = datetime.now(timezone.utc).date() - timedelta(days=1)
    assert _op(business_date="None").resolve_day({"data_interval_start": None}) == yesterday
    assert _op().resolve_day({}) == yesterday


def test_the_window_is_the_utc_day_and_user_parameters_are_merged() -> None:
    params = _op(parameters={"merchant": "m1"}).query_parameters(DAY)
    assert params == {"window_start": "2026-11-20T00:00:00Z", "window_end": "2026-11-21T00:00:00Z", "merchant": "m1"}
    # A user parameter of the same name wins (a merchant's own window).
    assert _op(parameters={"window_end": "x"}).query_parameters(DAY)["window_end"] == "x"


def test_folder_comes_from_the_flex_batch_dir_option_or_out_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__FLEX__BATCH_DIR", str(tmp_path / "batches"))  # Airflow's own config mechanism
    assert _op().local_dir(DAY) == tmp_path / "batches" / "evaluate" / "2026-11-20"
    assert _op(kind="transmit").local_dir(DAY) == tmp_path / "batches" / "transmit" / "2026-11-20"
    assert _op(out_dir=str(tmp_path / "x")).local_dir(DAY) == tmp_path / "x"


def test_default_folder_is_under_airflow_home() -> None:
    from airflow.sdk import conf

    # The declared default "{AIRFLOW_HOME}/flex_batches", expanded by Airflow (no FLEX_* variable).
    assert conf.get("flex", "batch_dir").endswith("/flex_batches")
    assert "{AIRFLOW_HOME}" not in conf.get("flex", "batch_dir")


@pytest.mark.parametrize("n_files", [0, 1, 3, 4, 9, 50])
def test_ship_groups_are_always_the_number_of_tasks_in_order_and_balanced(n_files: int) -> None:
    names = [f"f{i:02d}" for i in range(n_files)]
    groups = file_groups(names, 4)
    assert len(groups) == 4  # never fewer: Airflow would leave a mapped task instance "removed"
    assert [n for g in groups for n in g] == names
    sizes = [len(g) for g in groups]
    assert max(sizes) - min(sizes) <= 1


def test_one_group_at_least() -> None:
    assert file_groups(["a", "b"], 0) == [["a", "b"]]
