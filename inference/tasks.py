"""Thin Celery tasks of the inference app: ids in, one service call, the policy in the decorator."""

from __future__ import annotations

from celery import shared_task

from creativeops.core.retries import TRANSIENT_ERRORS


@shared_task(
    name="inference.tasks.creatives_refresh",
    # Acknowledged after the refresh finished: a worker lost mid-way gets the message redelivered,
    # and the rerun skips what was written (one creative per product, version and tone).
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=3,
    soft_time_limit=3 * 3600,
    time_limit=3 * 3600 + 300,
)
def creatives_refresh(model_version_id: int) -> int:
    """Write the whole catalog's creatives with one production version; returns how many exist."""
    from inference.services import creatives_refresh as refresh

    return refresh(model_version_id=model_version_id).done


@shared_task(
    name="inference.tasks.creatives_refresh_check",
    acks_late=True,
    ignore_result=True,
    soft_time_limit=60,
    time_limit=90,
    # Beat sends one every minute; a check that waited longer than that is replaced by the next one.
    expires=60,
)
def creatives_refresh_check(name: str | None = None) -> bool:
    """Every minute (beat): queue the refresh of the production version if it has not been done."""
    from inference.services import creatives_refresh_if_needed

    return creatives_refresh_if_needed(name=name) is not None
