"""FlexDailyTimetable: a DAG that never ran does not run its latest finished interval when unpaused."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pendulum
from airflow.sdk import DAG
from airflow.serialization.serialized_objects import DagSerialization
from airflow.timetables.base import DataInterval, TimeRestriction
from airflow.timetables.interval import CronDataIntervalTimetable

from flex_provider.timetables import FlexDailyTimetable

CRON = "0 2 * * *"


def _last_boundary(now: datetime) -> pendulum.DateTime:
    """The latest 02:00 UTC at or before ``now``, worked out here from the clock, not by the timetable."""
    at_two = now.replace(hour=2, minute=0, second=0, microsecond=0)
    last = at_two if now >= at_two else at_two - timedelta(days=1)
    return pendulum.instance(last)


def _first(timetable: CronDataIntervalTimetable, *, catchup: bool = False, last: DataInterval | None = None):
    return timetable.next_dagrun_info(
        last_automated_data_interval=last,
        restriction=TimeRestriction(earliest=None, latest=None, catchup=catchup),
    )


def test_a_dag_that_never_ran_starts_with_the_interval_under_way() -> None:
    boundary = _last_boundary(datetime.now(timezone.utc))
    info = _first(FlexDailyTimetable(CRON, "UTC"))
    assert info is not None
    assert info.data_interval == DataInterval(boundary, boundary + timedelta(days=1))
    assert info.run_after > datetime.now(timezone.utc)  # nothing runs at once on unpause
    # The positive control: Airflow's own timetable runs the finished interval before it at once.
    plain = _first(CronDataIntervalTimetable(CRON, "UTC"))
    assert plain.data_interval == DataInterval(boundary - timedelta(days=1), boundary)
    assert plain.run_after <= datetime.now(timezone.utc)


def test_after_its_first_run_it_schedules_as_airflow_does() -> None:
    boundary = _last_boundary(datetime.now(timezone.utc))
    week_ago = DataInterval(boundary - timedelta(days=8), boundary - timedelta(days=7))
    ours = _first(FlexDailyTimetable(CRON, "UTC"), last=week_ago)
    assert ours.data_interval == DataInterval(boundary - timedelta(days=1), boundary)  # paused days: latest
    assert ours == _first(CronDataIntervalTimetable(CRON, "UTC"), last=week_ago)
    with_catchup = _first(FlexDailyTimetable(CRON, "UTC"), catchup=True, last=week_ago)
    assert with_catchup.data_interval == DataInterval(week_ago.end, week_ago.end + timedelta(days=1))


def test_manual_runs_get_the_same_day_window() -> None:
    run_after = pendulum.datetime(2026, 11, 25, 9, 30, tz="UTC")
    assert FlexDailyTimetable(CRON, "UTC").infer_manual_data_interval(run_after=run_after) == DataInterval(
        pendulum.datetime(2026, 11, 24, 2, tz="UTC"), pendulum.datetime(2026, 11, 25, 2, tz="UTC")
    )


def test_it_serializes_through_the_provider_plugin() -> None:
    with DAG("flex_tt", schedule=FlexDailyTimetable(CRON, "UTC"), catchup=False) as dag:
        pass
    data = DagSerialization.to_dict(dag)
    assert data["dag"]["timetable"]["__type"] == "flex_provider.timetables.FlexDailyTimetable"
    back = DagSerialization.from_dict(data)
    assert isinstance(back.timetable, FlexDailyTimetable)
    assert back.timetable.summary == f"{CRON} (first run: next boundary)"
