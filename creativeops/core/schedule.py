"""Installing an app's Celery beat entries (django-celery-beat's database schedule).

Each app that runs periodic work declares its entries in its own `schedule.py` as
`{name: (task, schedule, kwargs)}` — crontab schedules are `{"crontab": (minute, hour)}` in UTC,
intervals `{"every": seconds}` — and installs them from a data migration with this function.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

PeriodicEntries = Mapping[str, tuple[str, dict, dict]]


def install_periodic_tasks(apps, entries: PeriodicEntries) -> None:
    """Create the entries once; an operator's later edits (time, kwargs, enabled) are never overwritten."""
    periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab_schedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    interval_schedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    for name, (task, schedule, kwargs) in entries.items():
        if periodic_task.objects.filter(name=name).exists():
            continue
        fields = {"task": task, "kwargs": json.dumps(kwargs)}
        if "crontab" in schedule:
            minute, hour = schedule["crontab"]
            fields["crontab"], _ = crontab_schedule.objects.get_or_create(
                minute=minute, hour=hour, day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
            )
        else:
            fields["interval"], _ = interval_schedule.objects.get_or_create(
                every=schedule["every"], period="seconds"
            )
        periodic_task.objects.create(name=name, **fields)
