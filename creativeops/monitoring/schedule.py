"""The drift check's beat entry; installed by monitoring migration 0002, edited by operators in the admin."""

from __future__ import annotations

DRIFT_REPORT = "Drift report (last 24 h of predictions)"
DRIFT_REPORT_TASK = "creativeops.monitoring.tasks.drift_report"

# name -> (task, schedule, kwargs), as `creativeops.core.schedule.install_periodic_tasks` takes them.
PERIODIC_TASKS = {
    DRIFT_REPORT: (DRIFT_REPORT_TASK, {"crontab": ("15", "*")}, {}),
}

# The task's name before drift monitoring became an app; migration 0002 rewrites installed entries.
FORMER_TASK_NAMES = ("inference.tasks.drift_report_task",)
