"""The schedule a fresh install gets; operators edit it in the admin (django-celery-beat)."""

from __future__ import annotations

import json

NIGHTLY_PIPELINE = "Nightly pipeline: generate, snapshot, train, verify artifact, score and register"
# The entry's name before the steps were renamed (migration 0004 renames an installed entry).
NIGHTLY_PIPELINE_BEFORE_0004 = "Nightly pipeline: generate, snapshot, train, evaluate, register"

# name -> (task, schedule, kwargs). Crontab schedules are (minute, hour) in UTC; intervals are seconds.
PERIODIC_TASKS = {
    NIGHTLY_PIPELINE: (
        "creativeops.pipeline.tasks.pipeline_nightly",
        {"crontab": ("0", "0")},
        # `small` trains in minutes on the CPU-only default deployment; on a GPU node an operator
        # switches the entry's kwargs to `base` in the admin (Periodic tasks).
        {"preset": "small", "new_products": 500},
    ),
    "Reap stale pipeline and training runs": (
        "creativeops.pipeline.tasks.pipeline_reap_stale",
        {"every": 60},
        {},
    ),
    "Retention: prune old artifacts": (
        "creativeops.pipeline.tasks.retention_prune",
        {"crontab": ("30", "3")},
        {},
    ),
    "Refresh creatives after a promotion": ("inference.tasks.creatives_refresh_check", {"every": 60}, {}),
    "Mirror the registry to MLflow (catch-up)": ("registry.tasks.mlflow_catch_up", {"every": 600}, {}),
    "Drift report (last 24 h of predictions)": (
        "inference.tasks.drift_report_task",
        {"crontab": ("15", "*")},
        {},
    ),
}


def install_periodic_tasks(apps) -> None:
    """Create the entries once; an operator's later edits (time, kwargs, enabled) are never overwritten."""
    periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab_schedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    interval_schedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    for name, (task, schedule, kwargs) in PERIODIC_TASKS.items():
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
