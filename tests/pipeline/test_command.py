"""`manage.py run_pipeline`: without a broker the chain runs in process and the result is printed."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from creativeops.pipeline.models import PipelineRun
from registry.models import ModelVersion
from tests.factories.pipeline import FAST_HYPERPARAMETERS, PipelineRunFactory
from tests.factories.training import TrainingRunFactory


# Transactional: the run's chain is queued on commit, as in production, so it runs inside the command.
# serialized_rollback: the flush afterwards would otherwise drop the roles and schedule the migrations made.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_run_pipeline_wait_runs_the_chain_and_prints_the_result(settings):
    # Heartbeats every 30 s at most: the in-memory SQLite of the tests barely sees a second writer.
    settings.CREATIVEOPS = {**settings.CREATIVEOPS, "STALE_RUN_MINUTES": 60}
    out = io.StringIO()

    call_command(
        "run_pipeline",
        "--preset=tiny",
        "--new-products=100",
        "--seed=11",
        f"--hyperparameters={json.dumps(FAST_HYPERPARAMETERS)}",
        "--wait",
        stdout=out,
    )

    run = PipelineRun.objects.get()
    version = ModelVersion.objects.get()
    assert run.status == PipelineRun.Status.SUCCEEDED
    text = out.getvalue()
    assert f"Pipeline run #{run.pk}: succeeded" in text
    assert "  new products:    100" in text
    assert f"  dataset version: v{run.dataset_version.number}" in text
    assert f"  training run:    #{run.training_run_id} (succeeded)" in text
    assert f"  model version:   {version.name} v{version.version} → candidate" in text
    assert f"  gate:            {version.gate_reason}" in text


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_run_pipeline_reports_a_failed_run_and_exits_non_zero():
    out = io.StringIO()

    with pytest.raises(CommandError) as failed:
        call_command("run_pipeline", "--preset=tiny", stdout=out)  # an empty catalog

    run = PipelineRun.objects.get()
    assert run.status == PipelineRun.Status.FAILED
    assert str(failed.value) == (
        f"Pipeline run #{run.pk} failed: snapshot: The catalog is empty: generate or import products "
        "before cutting a dataset version."
    )
    assert f"Pipeline run #{run.pk}: failed" in out.getvalue()


@pytest.mark.django_db
def test_run_pipeline_refuses_bad_options_with_the_services_message():
    with pytest.raises(
        CommandError, match=r"new_products must be a whole number from 0 to 100,000; got -5\."
    ):
        call_command("run_pipeline", "--new-products=-5")
    with pytest.raises(CommandError, match="--hyperparameters is not valid JSON"):
        call_command("run_pipeline", "--hyperparameters={epochs")
    assert PipelineRun.objects.count() == 0


@pytest.mark.django_db
def test_the_progress_bar_shows_one_eta_the_trainings():
    """tqdm's own estimate is left out: the only ETA on the line is the training's (the admin's)."""
    from creativeops.pipeline.management.commands.run_pipeline import _pipeline_bar, _update_bar

    run = PipelineRunFactory(running=True, training_run=TrainingRunFactory(running=True))  # ETA 540 s
    stream = io.StringIO()
    bar = _pipeline_bar(stream)

    _update_bar(bar, run)
    bar.close()

    line = stream.getvalue().split("\r")[-1].strip()
    # generate and snapshot done (2 of 5), training 25 % of its fifth: 45 %.
    assert line.startswith("pipeline:  45%|")
    assert line.endswith(", train, training ETA 540 s]")
    assert line.count("ETA") == 1
    assert "<" not in line and "/s" not in line  # no remaining-time estimate or rate from tqdm
