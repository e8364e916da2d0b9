"""The hourly drift check (beat entry "Drift report (last 24 h of predictions)").

Registered under the name the beat entry was installed with (`inference.tasks.drift_report_task`,
written to django-celery-beat's table by pipeline migration 0003): renaming it would leave every
existing install's schedule row pointing at a task no worker knows.
"""

from __future__ import annotations

from celery import shared_task

from creativeops.core.retries import TRANSIENT_ERRORS


@shared_task(
    name="inference.tasks.drift_report_task",
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
def drift_report_task(model_name: str | None = None, window_hours: float = 24) -> int | None:
    """Write one drift report; returns its id (None: the model has no production version)."""
    from datetime import timedelta

    from creativeops.monitoring.services import drift_report_create

    report = drift_report_create(model_name=model_name, window=timedelta(hours=window_hours))
    return report.pk if report else None
