"""The pipeline's beat entries a fresh install gets; operators edit them in the admin (django-celery-beat).

Installed by pipeline migration 0003 through `creativeops.core.schedule.install_periodic_tasks`; the
drift check's entry is the monitoring app's (`creativeops/monitoring/schedule.py`).
"""

from __future__ import annotations

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
}
