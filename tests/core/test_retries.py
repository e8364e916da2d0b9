"""One retry policy: every Celery task that retries, retries at least the transient errors."""

from __future__ import annotations

import pytest
from kombu.exceptions import OperationalError as BrokerOperationalError
from redis.exceptions import ConnectionError as RedisConnectionError

from creativeops.celery import app
from creativeops.core.retries import TRANSIENT_ERRORS
from creativeops.pipeline.models import PipelineRun
from creativeops.pipeline.services import pipeline_step_run
from creativeops.pipeline.services import steps as steps_module
from tests.factories.pipeline import PipelineRunFactory


def test_every_retrying_task_retries_the_transient_errors():
    app.loader.import_default_modules()
    retrying = {
        name: set(task.autoretry_for)
        for name, task in app.tasks.items()
        if getattr(task, "autoretry_for", ())
    }

    assert len(retrying) >= 10  # the five pipeline steps, the reapers, training, refresh, drift, mirror
    assert {name for name, errors in retrying.items() if not set(TRANSIENT_ERRORS) <= errors} == set()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "error", [RedisConnectionError("redis went away"), BrokerOperationalError("no broker")]
)
def test_a_transient_error_in_a_step_goes_to_the_task_to_retry_and_leaves_the_run_active(monkeypatch, error):
    run = PipelineRunFactory()

    def failing(run):
        raise error

    monkeypatch.setitem(steps_module.STEP_HANDLERS, "generate", failing)
    with pytest.raises(type(error)):
        pipeline_step_run(pipeline_run_id=run.pk, step="generate")

    run.refresh_from_db()
    assert run.status == PipelineRun.Status.RUNNING
    assert run.error == ""
    assert run.steps["generate"]["status"] == "running"  # the retry runs it again
