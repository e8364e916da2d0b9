"""Executing a training run: claim it, train, evaluate, publish the artifact, record everything.

One training at a time
----------------------
Training is CPU/GPU-bound and sized to have the machine to itself, so at most one run trains at any
moment, whatever the number of workers or a `manage.py train --sync` beside them:

* **PostgreSQL**: a session advisory lock (`creativeops.training`) held for the whole execution.
  A dead worker's lock disappears with its database session, so there is never a stale lock to
  clean up. (Session locks need a direct connection or session pooling, not transaction pooling.)
* **Other databases** (SQLite on a laptop): the TrainingRun rows themselves are the lease. A run may
  start only when no *other* run is "running" with a heartbeat fresher than STALE_RUN_MINUTES, and
  that condition is part of the single UPDATE that claims the row, which SQLite executes under its
  one write lock. A dead worker's lease ends when its heartbeat goes stale.

A second execution that finds the slot taken polls for `lock_wait_seconds` (default
CREATIVEOPS["TRAINING_LOCK_WAIT_SECONDS"], 120 s), then marks its still-queued run failed with a
message naming the run that holds the slot. In a normal deployment this never happens: the training
queue is consumed by one worker process with concurrency 1, so runs wait in the broker queue, not
here; the lock guards against a second consumer.

The row is also guarded per run: the claim is a `select_for_update` + status check, so the same
run is never started twice. A "running" run with a fresh heartbeat is left alone (a duplicate
message returns it); one whose heartbeat is older than STALE_RUN_MINUTES lost its worker and is
restarted from scratch when its message is redelivered (`acks_late` + `reject_on_worker_lost`), or
marked failed by the reaper (`training_runs_reap_stale`), whichever comes first.
"""

from __future__ import annotations

import logging
import socket
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Exists
from django.utils import timezone

from creativeops.core.errors import ApplicationError
from creativeops.core.heartbeat import Heartbeat, heartbeat_interval
from creativeops.core.locks import advisory_lock
from products.generator import VOCABULARY
from products.models import DatasetVersion
from training.models import TrainingRun
from training.selectors import training_run_active
from training.services.runs import training_config_of
from training.storage import (
    artifact_delete,
    model_artifact_publish,
    staging_cleanup,
    staging_directory,
)
from training.tracking import TrainingTracker

logger = logging.getLogger(__name__)

TRAINING_LOCK_NAME = "creativeops.training"
PROGRESS_WRITE_SECONDS = 2.0
LOCK_POLL_SECONDS = 1.0
ERROR_TRACEBACK_CHARS = 4000
FINISHED_STATUSES = (TrainingRun.Status.SUCCEEDED, TrainingRun.Status.FAILED, TrainingRun.Status.CANCELLED)


class TrainingStopped(Exception):  # noqa: N818 - a signal, not an error
    """Raised from the progress callback when the row is no longer "running" (cancelled or reaped)."""


@dataclass(frozen=True)
class ProgressUpdate:
    """What `progress_listener` receives on every training step and at every epoch end."""

    step: int
    total_steps: int
    epoch: int
    progress_percent: float
    eta_seconds: float | None
    epoch_metrics: dict | None


ProgressListener = Callable[[ProgressUpdate], None]


def stale_after() -> timedelta:
    return timedelta(minutes=settings.CREATIVEOPS["STALE_RUN_MINUTES"])


def _lock_wait_seconds() -> float:
    return float(settings.CREATIVEOPS.get("TRAINING_LOCK_WAIT_SECONDS", 120))


def json_safe(value):
    """`value` with NaN/inf replaced by None: JSON (and PostgreSQL jsonb) has no NaN."""
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, int | str | bool) or value is None:
        return value
    if hasattr(value, "item"):  # numpy / torch scalars
        return json_safe(value.item())
    return str(value)


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def training_run_execute(
    *,
    training_run_id: int,
    lock_wait_seconds: float | None = None,
    progress_listener: ProgressListener | None = None,
) -> TrainingRun:
    """Train the run and return it in its final state (succeeded, failed or cancelled).

    Idempotent: a finished run is returned untouched; a run that is live elsewhere is not started
    again. Failures are recorded on the row (message and traceback tail), logged with their
    traceback, and not raised, so the caller (a Celery task, the `train` command, the pipeline)
    reads the outcome from the row. Errors before the run is claimed (the database is down) do
    propagate, so the Celery task can retry them.
    """
    training_run = TrainingRun.objects.filter(pk=training_run_id).first()
    if training_run is None:
        raise ApplicationError(f"Training run #{training_run_id} does not exist.", status_code=404)
    if training_run.status in FINISHED_STATUSES:
        logger.info("Training run #%s is already %s; nothing to do", training_run_id, training_run.status)
        return training_run
    if training_run.status == TrainingRun.Status.RUNNING and _heartbeat_fresh(training_run):
        logger.info(
            "Training run #%s is already running on %s; not starting it twice",
            training_run_id,
            training_run.worker,
        )
        return training_run
    wait = _lock_wait_seconds() if lock_wait_seconds is None else lock_wait_seconds
    deadline = time.monotonic() + wait
    with advisory_lock(TRAINING_LOCK_NAME, wait_seconds=wait) as locked:
        if locked is False:
            return _refuse_busy(training_run_id, wait)
        while True:
            claimed, training_run = _claim(training_run_id, lease=locked is None)
            if claimed is not None:
                return _train(claimed, progress_listener)
            if training_run.status in FINISHED_STATUSES or _heartbeat_fresh(training_run):
                return training_run  # finished meanwhile, or claimed by another worker
            if time.monotonic() >= deadline:
                return _refuse_busy(training_run_id, wait)
            time.sleep(LOCK_POLL_SECONDS)


def _heartbeat_fresh(training_run: TrainingRun) -> bool:
    beat = training_run.heartbeat_at or training_run.started_at
    return beat is not None and beat >= timezone.now() - stale_after()


def _claim(training_run_id: int, *, lease: bool) -> tuple[TrainingRun | None, TrainingRun]:
    """Mark the run running if it may start: (claimed run, row) or (None, row as found).

    A queued run may start; so may a "running" one whose heartbeat is stale (its worker died and the
    broker redelivered the message); a running one with a fresh heartbeat is live and is left alone.
    With `lease` (no advisory lock on this database) the claim also requires that no *other* run is
    live, in the same UPDATE statement.
    """
    now = timezone.now()
    with transaction.atomic():
        training_run = TrainingRun.objects.select_for_update().get(pk=training_run_id)
        restartable = training_run.status == TrainingRun.Status.RUNNING and not _heartbeat_fresh(training_run)
        if training_run.status != TrainingRun.Status.QUEUED and not restartable:
            return None, training_run
        claim = TrainingRun.objects.filter(pk=training_run_id, status=training_run.status)
        if lease:
            live_other = TrainingRun.objects.filter(
                status=TrainingRun.Status.RUNNING, heartbeat_at__gte=now - stale_after()
            ).exclude(pk=training_run_id)
            claim = claim.filter(~Exists(live_other))
        note = ""
        if restartable:
            note = (
                f"Restarted at {now:%Y-%m-%d %H:%M:%S %Z}: worker {training_run.worker or '?'} had stopped."
            )
            logger.warning(
                "Training run #%s was left by worker %s; restarting it", training_run_id, training_run.worker
            )
        updated = claim.update(
            status=TrainingRun.Status.RUNNING,
            started_at=now,
            heartbeat_at=now,
            finished_at=None,
            worker=_worker_name(),
            step=0,
            total_steps=0,
            progress_percent=0.0,
            eta_seconds=None,
            epoch_history=[],
            metrics={},
            artifact_uri="",
            artifact_sha256="",
            parameter_count=None,
            mlflow_run_id="",
            error=note,
        )
    training_run.refresh_from_db()
    return (training_run if updated else None), training_run


def _worker_name() -> str:
    from celery import current_task

    request = getattr(current_task, "request", None)
    hostname = getattr(request, "hostname", None) if current_task else None
    return (hostname or f"{socket.gethostname()} (in process)")[:200]


def _refuse_busy(training_run_id: int, waited: float) -> TrainingRun:
    holder = training_run_active()
    if holder is not None and holder.pk != training_run_id:
        who = (
            f"training run #{holder.pk} (running since {holder.started_at:%Y-%m-%d %H:%M:%S %Z} "
            f"on {holder.worker or 'an unknown worker'})"
        )
    else:
        who = "another process"
    message = (
        f"Not started: {who} holds the training slot, and only one model trains at a time. "
        f"Waited {waited:g} s for it. Start this run again when that training has finished."
    )
    TrainingRun.objects.filter(pk=training_run_id, status=TrainingRun.Status.QUEUED).update(
        status=TrainingRun.Status.FAILED, finished_at=timezone.now(), error=message
    )
    logger.warning("Training run #%s: %s", training_run_id, message)
    return TrainingRun.objects.get(pk=training_run_id)


# --------------------------------------------------------------------------------------------
# The training itself
# --------------------------------------------------------------------------------------------


def training_heartbeat(training_run_id: int, interval: float | None = None) -> Heartbeat:
    """Keeps heartbeat_at fresh while nothing else does (tokenizer training, evaluation, uploads),
    so a long evaluation is not mistaken for a dead worker by the reaper. Only a running row beats."""

    def beat() -> None:
        TrainingRun.objects.filter(pk=training_run_id, status=TrainingRun.Status.RUNNING).update(
            heartbeat_at=timezone.now()
        )

    return Heartbeat(
        name=f"training-run-{training_run_id}-heartbeat",
        interval=heartbeat_interval(stale_after()) if interval is None else interval,
        beat=beat,
    )


class _ProgressRecorder:
    """The `progress_callback` given to `train_model`.

    Every call checks that the row is still "running" (one indexed query: a cancelled run stops
    within one step); the progress columns are written at most every PROGRESS_WRITE_SECONDS and at
    every epoch end, with `.filter().update()` so no other column is overwritten.
    """

    def __init__(self, training_run_id: int, tracker: TrainingTracker, listener: ProgressListener | None):
        self.training_run_id = training_run_id
        self.tracker = tracker
        self.listener = listener
        self.history: list[dict] = []
        self.started: float | None = None
        self.first_step = 0
        self.last_write = 0.0

    def __call__(self, step: int, total_steps: int, epoch: int, metrics: dict | None) -> None:
        now = time.monotonic()
        if self.started is None:
            self.started, self.first_step = now, step - 1
        percent = min(100.0, 100.0 * step / total_steps) if total_steps else 0.0
        eta = self._eta(now, step, total_steps)
        fields = {}
        if metrics is not None:
            self.history.append(json_safe(metrics))
            self.tracker.log_metrics({k: v for k, v in metrics.items() if k != "epoch"}, step=epoch)
            fields["epoch_history"] = self.history
        if fields or now - self.last_write >= PROGRESS_WRITE_SECONDS or step >= total_steps:
            fields.update(
                step=step,
                total_steps=total_steps,
                progress_percent=percent,
                eta_seconds=eta,
                heartbeat_at=timezone.now(),
            )
            still_running = self._runs().update(**fields)
            self.last_write = now
        else:
            still_running = self._runs().exists()
        if not still_running:
            raise TrainingStopped(f"training run #{self.training_run_id} is no longer running")
        if self.listener is not None:
            self.listener(ProgressUpdate(step, total_steps, epoch, percent, eta, metrics))

    def _runs(self):
        return TrainingRun.objects.filter(pk=self.training_run_id, status=TrainingRun.Status.RUNNING)

    def _eta(self, now: float, step: int, total_steps: int) -> float | None:
        done = step - self.first_step
        if not total_steps or done <= 0 or now <= self.started:
            return None
        return max(0.0, (total_steps - step) * (now - self.started) / done)


def _dataset_info(dataset_version: DatasetVersion) -> dict:
    return {
        "number": dataset_version.number,
        "sha256": dataset_version.sha256,
        "file": dataset_version.file,
        "products": dataset_version.product_count,
        "rows": dataset_version.row_count,
        "split_counts": dataset_version.split_counts,
    }


def _train(training_run: TrainingRun, listener: ProgressListener | None) -> TrainingRun:
    from products.services import dataset_version_read
    from training.ml import sha256_of_directory, train_model, verify_artifact
    from training.services.ood import ood_frame_read

    run_id = training_run.pk
    logger.info("Training run #%s started on %s", run_id, training_run.worker)
    tracker = TrainingTracker(training_run)
    heartbeat = training_heartbeat(run_id)
    heartbeat.start()
    staging: Path | None = None
    published: str | None = None
    try:
        config = training_config_of(training_run)
        dataset_version = training_run.dataset_version
        frame = dataset_version_read(version=dataset_version)
        tracker.start(
            params={"preset": training_run.preset, **training_run.hyperparameters},
            dataset_version=dataset_version,
            frame=frame,
        )
        if tracker.run_id:
            TrainingRun.objects.filter(pk=run_id).update(mlflow_run_id=tracker.run_id)
        vocabulary = VOCABULARY.known_terms(frame)
        ood_frame = ood_frame_read()
        staging = staging_directory(run_id)
        recorder = _ProgressRecorder(run_id, tracker, listener)
        result = train_model(
            frame,
            config,
            staging / "model",
            recorder,
            dataset_info=_dataset_info(dataset_version),
            **vocabulary,
            known_materials=VOCABULARY.all_materials,
            ood_frame=ood_frame,
        )
        if not recorder._runs().exists():  # cancelled during the final evaluation
            raise TrainingStopped(f"training run #{run_id} is no longer running")
        verify_artifact(result.artifact_dir)
        artifact_sha256 = sha256_of_directory(result.artifact_dir)
        metrics = json_safe(result.metrics)
        tracker.log_metrics(metrics, step=len(result.history))
        tracker.log_artifacts(result.artifact_dir)
        published = model_artifact_publish(local_dir=result.artifact_dir, training_run_id=run_id)
        now = timezone.now()
        finished = TrainingRun.objects.filter(pk=run_id, status=TrainingRun.Status.RUNNING).update(
            status=TrainingRun.Status.SUCCEEDED,
            finished_at=now,
            heartbeat_at=now,
            step=result.steps,
            progress_percent=100.0,
            eta_seconds=0.0,
            epoch_history=json_safe(result.history),
            metrics=metrics,
            artifact_uri=published,
            artifact_sha256=artifact_sha256,
            parameter_count=result.parameter_count,
            mlflow_run_id=tracker.run_id or "",
        )
        if not finished:
            raise TrainingStopped(f"training run #{run_id} stopped running before it could be recorded")
        tracker.end("FINISHED")
        logger.info(
            "Training run #%s succeeded: %s", run_id, {k: metrics.get(k) for k in ("rouge_l", "val_loss")}
        )
    except TrainingStopped:
        if published:
            artifact_delete(published)
        tracker.end("KILLED")
        _note_stopped(run_id)
    except KeyboardInterrupt:
        if published:
            artifact_delete(published)
        _record_stop(run_id, TrainingRun.Status.CANCELLED, "Interrupted (Ctrl-C) before it finished.")
        tracker.end("KILLED")
        raise
    except BaseException as error:  # noqa: BLE001 - recorded, logged, and re-raised if not an Exception
        logger.exception("Training run #%s failed", run_id)
        if published:
            artifact_delete(published)
        _record_stop(run_id, TrainingRun.Status.FAILED, failure_text(error))
        tracker.end("FAILED")
        if not isinstance(error, Exception):
            raise
    finally:
        heartbeat.stop()
        staging_cleanup(staging)
    return TrainingRun.objects.get(pk=run_id)


def failure_text(error: BaseException) -> str:
    """What an operator reads: the message first, then the end of the traceback."""
    from celery.exceptions import SoftTimeLimitExceeded

    if isinstance(error, SoftTimeLimitExceeded):
        message = (
            f"Stopped by the training time limit ({settings.TRAINING_SOFT_TIME_LIMIT} s, "
            "TRAINING_SOFT_TIME_LIMIT). Use a smaller preset, fewer epochs, or raise the limit."
        )
    elif isinstance(error, ApplicationError):
        message = error.message
    else:
        message = f"{type(error).__name__}: {error}"
    trace = "".join(traceback.format_exception(error))[-ERROR_TRACEBACK_CHARS:]
    return f"{message}\n\nTraceback (last {ERROR_TRACEBACK_CHARS} characters):\n{trace}"


def _record_stop(training_run_id: int, status: str, error: str) -> None:
    TrainingRun.objects.filter(pk=training_run_id, status=TrainingRun.Status.RUNNING).update(
        status=status, finished_at=timezone.now(), eta_seconds=None, error=error
    )


def _note_stopped(training_run_id: int) -> None:
    """The row was cancelled (or reaped) under us: keep its status, say where training stopped."""
    training_run = TrainingRun.objects.get(pk=training_run_id)
    logger.info(
        "Training run #%s stopped (%s) at step %s", training_run_id, training_run.status, training_run.step
    )
    note = (
        f" Training stopped at step {training_run.step} of {training_run.total_steps}; no artifact was kept."
    )
    TrainingRun.objects.filter(pk=training_run_id, status=training_run.status).update(
        error=(training_run.error + note).strip(), eta_seconds=None
    )
