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


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_0004_renames_the_steps_of_stored_runs_and_the_nightly_entry():
    apps = _migrate(BEFORE)
    periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
    assert periodic_task.objects.filter(name=NIGHTLY_PIPELINE_BEFORE_0004).exists()
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
    names = set(apps.get_model("django_celery_beat", "PeriodicTask").objects.values_list("name", flat=True))
    assert NIGHTLY_PIPELINE in names and NIGHTLY_PIPELINE_BEFORE_0004 not in names
