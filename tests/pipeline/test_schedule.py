"""The schedule a fresh install gets (migration 0003) and the tasks beat sends."""

from __future__ import annotations

import json

import pytest
from django.apps import apps as django_apps
from django_celery_beat.models import PeriodicTask

from creativeops.celery import app
from creativeops.core.schedule import install_periodic_tasks
from creativeops.monitoring import schedule as monitoring_schedule
from creativeops.pipeline import tasks
from creativeops.pipeline.models import PipelineRun
from creativeops.pipeline.schedule import NIGHTLY_PIPELINE, PERIODIC_TASKS
from creativeops.pipeline.services import pipeline_options_clean
from creativeops.queues import TASK_ROUTES, queue_for
from tests.factories.pipeline import PipelineRunFactory

pytestmark = pytest.mark.django_db


def test_the_nightly_entry_exists_after_migrate_at_midnight_utc():
    entry = PeriodicTask.objects.get(name=NIGHTLY_PIPELINE)

    assert entry.enabled
    assert entry.task == "creativeops.pipeline.tasks.pipeline_nightly"
    assert entry.interval is None
    crontab = entry.crontab
    assert (
        crontab.minute,
        crontab.hour,
        crontab.day_of_week,
        crontab.day_of_month,
        crontab.month_of_year,
    ) == (
        "0",
        "0",
        "*",
        "*",
        "*",
    )
    assert str(crontab.timezone) == "UTC"
    assert entry.task in app.tasks
    assert app.tasks[entry.task].name == tasks.pipeline_nightly.name
    # The run's options are the entry's kwargs, and they are valid options.
    assert json.loads(entry.kwargs) == {"preset": "small", "new_products": 500}
    assert pipeline_options_clean(json.loads(entry.kwargs))["preset"] == "small"


def test_every_periodic_task_names_a_task_the_workers_know():
    app.loader.import_default_modules()  # what a worker (and beat) does at start
    installed = dict(PeriodicTask.objects.values_list("name", "task"))

    assert set(PERIODIC_TASKS) | set(monitoring_schedule.PERIODIC_TASKS) <= set(installed)
    unknown = {name: task for name, task in installed.items() if task not in app.tasks}
    assert unknown == {}


def test_reinstalling_never_overwrites_an_operators_edit():
    entry = PeriodicTask.objects.get(name=NIGHTLY_PIPELINE)
    entry.kwargs = json.dumps({"preset": "base", "new_products": 0})
    entry.enabled = False
    entry.save()

    install_periodic_tasks(django_apps, PERIODIC_TASKS)

    entry.refresh_from_db()
    assert json.loads(entry.kwargs) == {"preset": "base", "new_products": 0}
    assert entry.enabled is False
    assert PeriodicTask.objects.filter(name=NIGHTLY_PIPELINE).count() == 1


def test_the_nightly_task_starts_a_scheduled_run_with_the_entrys_kwargs():
    entry = PeriodicTask.objects.get(name=NIGHTLY_PIPELINE)

    run_id = tasks.pipeline_nightly.apply(kwargs=json.loads(entry.kwargs)).get()

    run = PipelineRun.objects.get(pk=run_id)
    assert run.trigger == PipelineRun.Trigger.SCHEDULE
    assert run.triggered_by is None
    assert run.status == PipelineRun.Status.QUEUED  # its chain is queued when the test commits
    assert run.options["preset"] == "small"
    assert run.options["new_products"] == 500
    assert isinstance(run.options["seed"], int)


def test_the_reaper_task_fails_runs_whose_lease_expired():
    dead = PipelineRunFactory(running=True, expired=True)

    assert tasks.pipeline_reap_stale.apply().get() == [dead.pk]

    dead.refresh_from_db()
    assert dead.status == PipelineRun.Status.FAILED


def test_the_steps_are_routed_to_their_queues_and_acked_late():
    queues = {task.pipeline_step: queue_for(task.app, task.name) for task in _step_tasks()}

    assert queues == {
        "generate": "default",
        "snapshot": "default",
        "train": "training",
        "verify_artifact": "default",
        "score_and_register": "training",
    }
    for task in _step_tasks():
        assert task.acks_late and task.reject_on_worker_lost
        assert task.soft_time_limit < task.time_limit
        assert task.max_retries == 3


def _step_tasks():
    return [
        tasks.pipeline_generate,
        tasks.pipeline_snapshot,
        tasks.pipeline_train,
        tasks.pipeline_verify_artifact,
        tasks.pipeline_score_and_register,
    ]


def test_every_route_names_a_registered_task():
    app.loader.import_default_modules()

    assert set(TASK_ROUTES) <= set(app.tasks)
