"""Migration 0004: stored runs keep their history under the renamed steps."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from creativeops.pipeline.models import PipelineRun
from creativeops.pipeline.schedule import NIGHTLY_PIPELINE, NIGHTLY_PIPELINE_BEFORE_0004

BEFORE = [("pipeline", "0003_periodic_tasks")]
AFTER = [("pipeline", "0004_rename_steps")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def before_0004():
    """The schema and data as 0003 left them; the latest schema again afterwards, whatever happened
    (later tests write the new, longer step names)."""
    apps = _migrate(BEFORE)
    try:
        periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
        # An install from before the rename: the nightly entry under its old name (edited by an
        # operator: another hour), whatever earlier tests left in the table.
        periodic_task.objects.filter(name__in=[NIGHTLY_PIPELINE, NIGHTLY_PIPELINE_BEFORE_0004]).delete()
        periodic_task.objects.create(
            name=NIGHTLY_PIPELINE_BEFORE_0004,
            task="creativeops.pipeline.tasks.pipeline_nightly",
            crontab=apps.get_model("django_celery_beat", "CrontabSchedule").objects.create(
                minute="0", hour="2"
            ),
        )
        yield apps
    finally:
        _migrate(AFTER)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_0004_renames_the_steps_of_stored_runs_and_the_nightly_entry(before_0004):
    apps = before_0004
    old_run = apps.get_model("pipeline", "PipelineRun").objects.create(
        model_name="creative-generator",
        status="running",
        current_step="register",
        steps={
            "generate": {"status": "succeeded", "products": 100},
            "snapshot": {"status": "succeeded"},
            "train": {"status": "succeeded"},
            "evaluate": {"status": "succeeded", "artifact_sha256": "ab" * 32},
            "register": {"status": "running", "attempts": 2},
        },
    )

    _migrate(AFTER)

    run = PipelineRun.objects.get(pk=old_run.pk)
    assert run.current_step == "score_and_register"
    assert set(run.steps) == set(PipelineRun.STEPS)  # jsonb keeps no key order
    assert run.steps["verify_artifact"] == {"status": "succeeded", "artifact_sha256": "ab" * 32}
    assert run.steps["score_and_register"] == {"status": "running", "attempts": 2}
    assert run.steps["generate"] == {"status": "succeeded", "products": 100}
    periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
    assert not periodic_task.objects.filter(name=NIGHTLY_PIPELINE_BEFORE_0004).exists()
    nightly = periodic_task.objects.select_related("crontab").get(name=NIGHTLY_PIPELINE)
    assert (nightly.crontab.minute, nightly.crontab.hour) == ("0", "2")  # the operator's edit is kept
