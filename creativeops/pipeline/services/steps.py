"""The five steps: generate, snapshot, train, verify_artifact, score_and_register (the gate scores
and the registry registers). Each is idempotent: its output is recorded on the run, and a step
delivered twice (broker redelivery, a duplicate message) finds it there and creates nothing new."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from creativeops.core.errors import ApplicationError
from creativeops.core.heartbeat import Heartbeat, heartbeat_interval
from creativeops.core.retries import TRANSIENT_ERRORS
from creativeops.pipeline.models import PipelineRun
from creativeops.pipeline.services.reaper import lease_duration, pipeline_run_fail

logger = logging.getLogger(__name__)

_ACTIVE = (PipelineRun.Status.QUEUED, PipelineRun.Status.RUNNING)


class StepBusy(Exception):  # noqa: N818 - a signal, not an error
    """The step's work is live in another worker (a duplicate delivery): leave it to that worker."""


def pipeline_step_succeeded(run: PipelineRun, step: str) -> bool:
    return run.steps.get(step, {}).get("status") == "succeeded"


def pipeline_step_run(*, pipeline_run_id: int, step: str) -> PipelineRun:
    """Run one step of an active run and return the run; the chain goes on only if the step succeeded.

    A failure marks the run failed with the step's message, which releases the lock. Nothing is
    done for an ended run, a step already done, or a step whose previous step has not succeeded.
    """
    if step not in STEP_HANDLERS:
        raise ApplicationError(f"Unknown pipeline step {step!r}; steps: {', '.join(PipelineRun.STEPS)}.")
    run = PipelineRun.objects.get(pk=pipeline_run_id)
    if not _may_run(run, step):
        return run
    _step_update(run.pk, step, status="running", started=True)
    try:
        with _lease_heartbeat(run.pk):
            output = STEP_HANDLERS[step](run) or {}
    except StepBusy as busy:
        logger.info(
            "Pipeline run #%s: step %s is live elsewhere (%s); not running it twice", run.pk, step, busy
        )
        return PipelineRun.objects.get(pk=run.pk)
    except TRANSIENT_ERRORS:
        raise  # the Celery task retries it with backoff (creativeops.core.retries)
    except Exception as error:
        logger.exception("Pipeline run #%s failed in step %s", run.pk, step)
        message = error.message if isinstance(error, ApplicationError) else f"{type(error).__name__}: {error}"
        pipeline_run_fail(pipeline_run_id=run.pk, step=step, message=message)
        return PipelineRun.objects.get(pk=run.pk)
    _step_update(run.pk, step, status="succeeded", output=output)
    return PipelineRun.objects.get(pk=run.pk)


def _may_run(run: PipelineRun, step: str) -> bool:
    if run.status not in _ACTIVE:
        logger.info("Pipeline run #%s is %s; step %s does nothing.", run.pk, run.status, step)
        return False
    if pipeline_step_succeeded(run, step):
        logger.info("Pipeline run #%s: step %s already done (delivered twice).", run.pk, step)
        return False
    index = PipelineRun.STEPS.index(step)
    if index and not pipeline_step_succeeded(run, PipelineRun.STEPS[index - 1]):
        logger.warning(
            "Pipeline run #%s: step %s delivered before %s succeeded; ignored.",
            run.pk,
            step,
            PipelineRun.STEPS[index - 1],
        )
        return False
    return True


def _step_update(run_id: int, step: str, *, status: str, started: bool = False, output: dict | None = None):
    """Record a step's state on the row (locked), renew the lease; the last success ends the run."""
    now = timezone.now()
    with transaction.atomic():
        run = PipelineRun.objects.select_for_update().get(pk=run_id)
        if run.status not in _ACTIVE:
            return  # the reaper or an operator ended it meanwhile; a late step changes nothing
        state = {**run.steps.get(step, {}), **(output or {}), "status": status}
        if started:
            state["attempts"] = state.get("attempts", 0) + 1
            state.setdefault("started_at", now.isoformat())
        else:
            state["finished_at"] = now.isoformat()
        run.steps = {**run.steps, step: state}
        run.current_step = step
        run.lease_expires_at = now + lease_duration()
        if run.status == PipelineRun.Status.QUEUED:
            run.status, run.started_at = PipelineRun.Status.RUNNING, now
        if status == "succeeded" and step == PipelineRun.STEPS[-1]:
            run.status, run.finished_at, run.current_step = PipelineRun.Status.SUCCEEDED, now, ""
        run.save(
            update_fields=["steps", "current_step", "lease_expires_at", "status", "started_at", "finished_at"]
        )


def _lease_heartbeat(run_id: int) -> Heartbeat:
    """Renews the run's lease while a step works, so only a dead worker's run outlives it."""

    def renew() -> None:
        PipelineRun.objects.filter(pk=run_id, status__in=_ACTIVE).update(
            lease_expires_at=timezone.now() + lease_duration()
        )

    return Heartbeat(
        name=f"pipeline-run-{run_id}-lease", interval=heartbeat_interval(lease_duration()), beat=renew
    )


# --- the steps ---------------------------------------------------------------------------------


def _generate(run: PipelineRun) -> dict:
    """Add synthetic products. Re-running with the run's seed rewrites the same skus: no duplicates."""
    from products.services import products_generate_and_store

    count = run.options.get("new_products") or 0
    if not count:
        return {"products": 0}
    stored = products_generate_and_store(count=count, seed=run.options["seed"])
    PipelineRun.objects.filter(pk=run.pk).update(generated_products=stored)
    return {"products": stored, "seed": run.options["seed"]}


def _snapshot(run: PipelineRun) -> dict:
    """Cut a dataset version, once per run: the row lock makes a concurrent duplicate wait and reuse it."""
    from products.models import DatasetVersion
    from products.services import dataset_version_create

    with transaction.atomic():
        locked = PipelineRun.objects.select_for_update().get(pk=run.pk)
        version = locked.dataset_version
        if version is None:
            version = dataset_version_create(
                trigger=DatasetVersion.Trigger.PIPELINE,
                actor=run.triggered_by,
                note=f"Pipeline run #{run.pk}",
            )
            PipelineRun.objects.filter(pk=run.pk).update(dataset_version=version)
    return {"dataset_version": version.number, "products": version.product_count, "rows": version.row_count}


_TRAINING_TRIGGERS = {PipelineRun.Trigger.SCHEDULE: "schedule", PipelineRun.Trigger.API: "api"}


def _train(run: PipelineRun) -> dict:
    """Create the run's training run once, then execute it (the training service is idempotent: a
    finished run is returned as is, a live one elsewhere is left alone, a dead one restarts)."""
    from training.models import TrainingRun
    from training.services import training_run_create, training_run_execute

    with transaction.atomic():
        locked = PipelineRun.objects.select_for_update().get(pk=run.pk)
        training_run = locked.training_run
        if training_run is None:
            training_run = training_run_create(
                dataset_version=locked.dataset_version,
                preset=run.options["preset"],
                hyperparameters=run.options.get("hyperparameters") or None,
                trigger=_TRAINING_TRIGGERS.get(run.trigger, TrainingRun.Trigger.MANUAL),
                actor=run.triggered_by,
            )
            PipelineRun.objects.filter(pk=run.pk).update(training_run=training_run)
    training_run = training_run_execute(training_run_id=training_run.pk)
    if training_run.status == TrainingRun.Status.RUNNING:
        raise StepBusy(
            f"training run #{training_run.pk} is running on {training_run.worker or 'another worker'}"
        )
    if training_run.status != TrainingRun.Status.SUCCEEDED:
        reason = training_run.error.split("\n\n")[0] or "no error recorded"
        raise ApplicationError(f"Training run #{training_run.pk} {training_run.status}: {reason}")
    metrics = training_run.metrics or {}
    return {
        "training_run": training_run.pk,
        "training_steps": training_run.step,
        "metrics": {key: metrics[key] for key in ("rouge_l", "fact_fidelity", "val_loss") if key in metrics},
    }


def _verify_artifact(run: PipelineRun) -> dict:
    """Prove the trained artifact is the one training wrote before anything is scored or registered
    from it: every file against its manifest, the manifest against the checksum training recorded."""
    from training.storage import artifact_verify

    training_run = run.training_run
    if not training_run.artifact_uri:
        raise ApplicationError(f"Training run #{training_run.pk} recorded no artifact; nothing to verify.")
    artifact_verify(
        uri=training_run.artifact_uri,
        sha256=training_run.artifact_sha256,
        owner=f"training run #{training_run.pk}",
        refused="was not registered",
    )
    return {"artifact_sha256": training_run.artifact_sha256}


def _score_and_register(run: PipelineRun) -> dict:
    """The registry scores candidate and production on the same rows (the gate: the candidate's test
    split and the golden set, created once and never trained on) and registers the version with the
    gate's decision, once per training run; the decision and its reason are copied onto the run."""
    from products.services import dataset_version_create_golden
    from registry.services import model_version_register

    version = model_version_register(
        training_run=run.training_run, name=run.model_name, actor=run.triggered_by
    )
    decision = "candidate" if version.gate_passed else "rejected"
    PipelineRun.objects.filter(pk=run.pk).update(
        model_version=version, gate_decision=decision, gate_reason=version.gate_reason
    )
    compared_with = (version.evaluation or {}).get("production_version")
    return {
        "model_version": version.version,
        "decision": decision,
        "version_status": version.status,
        "compared_with": f"{version.name} v{compared_with}" if compared_with else None,
        "golden_dataset_version": dataset_version_create_golden().number,  # the one the gate used
    }


STEP_HANDLERS: dict[str, Callable[[PipelineRun], dict | None]] = {
    "generate": _generate,
    "snapshot": _snapshot,
    "train": _train,
    "verify_artifact": _verify_artifact,
    "score_and_register": _score_and_register,
}
