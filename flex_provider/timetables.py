"""
Day windows on a cron schedule whose first scheduled run waits for the next boundary.

With ``catchup=False``, Airflow's ``CronDataIntervalTimetable`` runs the latest finished interval as
soon as a DAG that never ran is unpaused. For ``flex_mit_daily`` that is a real shipment to Flex: a
merchant who triggers a dry run from the UI of a freshly deployed, paused DAG (the form's "Unpause on
trigger" is ticked by default) would also ship yesterday's declines. :class:`FlexDailyTimetable` leaves
that first interval alone: a DAG without any scheduled or backfill run starts with the interval that
begins at the next boundary. Once it has run, it behaves exactly like ``CronDataIntervalTimetable``
(a paused day is caught up as Airflow does: the latest finished interval runs on unpause). Backfills,
manual runs and their data intervals are unchanged.

Registered through the provider's plugin (``FlexWebhookPlugin.timetables``), as Airflow requires of
custom timetables.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from airflow.timetables.base import DagRunInfo
from airflow.timetables.interval import CronDataIntervalTimetable

if TYPE_CHECKING:
    from airflow.timetables.base import DataInterval, TimeRestriction


class FlexDailyTimetable(CronDataIntervalTimetable):
    """
    ``CronDataIntervalTimetable`` whose first scheduled run, with ``catchup=False``, is the next interval.

    :param cron: cron expression of the interval boundaries, e.g. ``"0 2 * * *"``.
    :param timezone: time zone of the expression (``"UTC"``).
    """

    @property
    def summary(self) -> str:
        return f"{self._expression} (first run: next boundary)"

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
    ) -> DagRunInfo | None:
        info = super().next_dagrun_info(
            last_automated_data_interval=last_automated_data_interval, restriction=restriction
        )
        if info is None or last_automated_data_interval is not None or restriction.catchup:
            return info
        interval = info.data_interval
        if interval.end > datetime.now(timezone.utc):
            return info  # its end is still ahead: nothing would run at once
        start = interval.end  # the interval under way now; it runs when it ends
        if restriction.latest is not None and start > restriction.latest:
            return None
        return DagRunInfo.interval(start=start, end=self._get_next(start))
