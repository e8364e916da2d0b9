"""The five steps. Each is idempotent: its output is recorded on the run, and a step delivered twice
(broker redelivery, a duplicate message) finds it there and creates nothing new."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from django.db import InterfaceError, OperationalError, connections, transaction
from django.utils import timezone

from creativeops.core.errors import ApplicationError
from creativeops.pipeline.models import PipelineRun
from creativeops.pipeline.services.reaper import lease_duration, pipeline_run_fail

logger = logging.getLogger(__name__)

_ACTIVE = (PipelineRun.Status.QUEUED, PipelineRun.Status.RUNNING)
# Infrastructure errors propagate to the Celery task, which retries them with backoff; everything
# else is a real failure of the step and ends the run with its message.
TRANSIENT_ERRORS = (OperationalError, InterfaceError)


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
    heartbeat = _LeaseHeartbeat(run.pk)
    heartbeat.start()
    try:
        output = STEP_HANDLERS[step](run) or {}
    except StepBusy as busy:
        logger.info(
            "Pipeline run #%s: step %s is live elsewhere (%s); not running it twice", run.pk, step, busy
        )
        return PipelineRun.objects.get(pk=run.pk)
    except TRANSIENT_ERRORS:
        raise
    except Exception as error:
        logger.exception("Pipeline run #%s failed in step %s", run.pk, step)
        message = error.message if isinstance(error, ApplicationError) else f"{type(error).__name__}: {error}"
        pipeline_run_fail(pipeline_run_id=run.pk, step=step, message=message)
        return PipelineRun.objects.get(pk=run.pk)
    finally:
        heartbeat.stop()
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


class _LeaseHeartbeat(threading.Thread):
    """Renews the run's lease while a step works, so only a dead worker's run outlives it."""

    def __init__(self, run_id: int):
        super().__init__(name=f"pipeline-run-{run_id}-lease", daemon=True)
        self.run_id = run_id
        self.interval = min(30.0, lease_duration().total_seconds() / 4)
        self._stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self._stopped.wait(self.interval):
                try:
                    PipelineRun.objects.filter(pk=self.run_id, status__in=_ACTIVE).update(
                        lease_expires_at=timezone.now() + lease_duration()
                    )
                except Exception as error:
                    logger.warning("Lease renewal of pipeline run #%s failed: %s", self.run_id, error)
        finally:
            connections.close_all()  # this thread's own connections

    def stop(self) -> None:
        self._stopped.set()
        self.join(timeout=10)


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


def _evaluate(run: PipelineRun) -> dict:
    """Check the candidate's artifact before anything is registered from it, and prepare what the gate
    scores it on: every file against its manifest, the manifest against the checksum training
    recorded, and the golden set (created once, never trained on)."""
    from products.services import dataset_version_create_golden
    from registry.models import ModelVersion
    from training.ml import ArtifactIntegrityError, sha256_of_directory, verify_artifact
    from training.storage import artifact_local_path

    training_run = run.training_run
    if not training_run.artifact_uri:
        raise ApplicationError(f"Training run #{training_run.pk} recorded no artifact; nothing to evaluate.")
    path = artifact_local_path(training_run.artifact_uri)
    try:
        verify_artifact(path)
        actual = sha256_of_directory(path)
    except ArtifactIntegrityError as error:
        raise ApplicationError(
            f"The artifact of training run #{training_run.pk} failed verification: {error}."
        )
    if actual != training_run.artifact_sha256:
        raise ApplicationError(
            f"The artifact of training run #{training_run.pk} changed after training: its checksum is "
            f"{actual[:12]}…, training recorded {training_run.artifact_sha256[:12]}…."
        )
    golden = dataset_version_create_golden()
    production = ModelVersion.objects.production().filter(name=run.model_name).first()
    return {
        "artifact_sha256": actual,
        "golden_dataset_version": golden.number,
        "compared_with": f"{production.name} v{production.version}" if production else None,
    }


def _register(run: PipelineRun) -> dict:
    """The registry scores candidate and production on the same rows (the gate) and registers the
    version, once per training run; the decision and its reason are copied onto the run."""
    from registry.services import model_version_register

    version = model_version_register(
        training_run=run.training_run, name=run.model_name, actor=run.triggered_by
    )
    decision = "candidate" if version.gate_passed else "rejected"
    PipelineRun.objects.filter(pk=run.pk).update(
        model_version=version, gate_decision=decision, gate_reason=version.gate_reason
    )
    return {"model_version": version.version, "decision": decision, "version_status": version.status}


STEP_HANDLERS: dict[str, Callable[[PipelineRun], dict | None]] = {
    "generate": _generate,
    "snapshot": _snapshot,
    "train": _train,
    "evaluate": _evaluate,
    "register": _register,
}
