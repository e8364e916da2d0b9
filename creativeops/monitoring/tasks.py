"""The hourly drift check (beat entry `creativeops.monitoring.schedule.DRIFT_REPORT`)."""

from __future__ import annotations

from celery import shared_task

from creativeops.core.retries import TRANSIENT_ERRORS
from creativeops.monitoring.schedule import DRIFT_REPORT_TASK


@shared_task(
    name=DRIFT_REPORT_TASK,
    acks_late=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=3,
    soft_time_limit=300,
    time_limit=360,
    # Beat sends one every hour; a check still waiting after that is replaced by the next one.
    expires=3600,
)
def drift_report(model_name: str | None = None, window_hours: float = 24) -> int | None:
    """Write one drift report; returns its id (None: the model has no production version)."""
    from datetime import timedelta

    from creativeops.monitoring.services import drift_report_create

    report = drift_report_create(model_name=model_name, window=timedelta(hours=window_hours))
    return report.pk if report else None
