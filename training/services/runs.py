"""Creating, queuing and cancelling training runs."""

from __future__ import annotations

import dataclasses
import logging
import math
import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from creativeops.core.errors import ApplicationError
from products.models import DatasetVersion
from training.ml.config import PRESETS, TrainingConfig
from training.models import TrainingRun

logger = logging.getLogger(__name__)

# Bounds on the knobs that decide how long a run takes and how much memory it needs, so a typo in
# an API call ("epochs": 10000) is refused with the limit instead of occupying the training worker.
HYPERPARAMETER_LIMITS: dict[str, tuple[float, float]] = {
    "epochs": (1, 500),
    "batch_size": (1, 4096),
    "max_steps": (1, 10_000_000),
    "learning_rate": (1e-7, 1.0),
    "weight_decay": (0.0, 1.0),
    "grad_clip": (0.0, 1000.0),
    "max_source_tokens": (8, 4096),
    "max_target_tokens": (8, 4096),
    "vocab_size": (64, 262_144),
    "d_model": (8, 4096),
    "n_layers": (1, 64),
    "n_heads": (1, 64),
    "d_ff": (8, 16384),
    "dropout": (0.0, 0.9),
    "eval_max_items": (0, 100_000),
    "validation_max_items": (1, 1_000_000),
    "eval_batch_size": (1, 4096),
    "early_stopping_patience": (1, 1000),
    "tones_per_product": (1, 16),
    "num_threads": (1, 512),
}
_FIELD_TYPES = {field.name: str(field.type) for field in dataclasses.fields(TrainingConfig)}
TUNABLE_HYPERPARAMETERS = tuple(sorted(name for name in _FIELD_TYPES if name != "preset"))


def _hyperparameter_error(message: str) -> ApplicationError:
    return ApplicationError(message, field="hyperparameters")


def _coerce_hyperparameter(name: str, value: Any) -> Any:
    """`value` as the TrainingConfig field's type, or an ApplicationError naming the key and the rule."""
    annotation = _FIELD_TYPES[name]
    optional = "None" in annotation
    base = annotation.replace("| None", "").strip()
    if value is None:
        if optional:
            return None
        raise _hyperparameter_error(f"Hyperparameter {name!r} cannot be null.")
    if base == "int":
        whole = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        if not whole or value != int(value):
            raise _hyperparameter_error(f"Hyperparameter {name!r} must be a whole number, got {value!r}.")
        value = int(value)
    elif base == "float":
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise _hyperparameter_error(f"Hyperparameter {name!r} must be a number, got {value!r}.")
        value = float(value)
    elif base == "str" and (not isinstance(value, str) or not value.strip()):
        raise _hyperparameter_error(f"Hyperparameter {name!r} must be a non-empty string, got {value!r}.")
    if name in HYPERPARAMETER_LIMITS:
        low, high = HYPERPARAMETER_LIMITS[name]
        if not low <= value <= high:
            raise _hyperparameter_error(
                f"Hyperparameter {name!r} must be between {low:g} and {high:g}, got {value!r}."
            )
    return value


def training_config_resolve(*, preset: str, hyperparameters: dict[str, Any] | None = None) -> TrainingConfig:
    """The preset's TrainingConfig with `hyperparameters` laid over it, checked.

    Unknown keys, wrong types, values outside HYPERPARAMETER_LIMITS and combinations the config
    rejects (d_model not divisible by n_heads, ...) raise ApplicationError naming the key.
    """
    if preset not in PRESETS:
        raise ApplicationError(
            f"Unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}.", field="preset"
        )
    if not isinstance(hyperparameters or {}, dict):
        raise _hyperparameter_error("Hyperparameters must be an object of name → value.")
    overrides = dict(hyperparameters or {})
    if "preset" in overrides:
        raise _hyperparameter_error("Set the preset with the 'preset' field, not inside hyperparameters.")
    unknown = sorted(set(overrides) - set(TUNABLE_HYPERPARAMETERS))
    if unknown:
        raise _hyperparameter_error(
            f"Unknown hyperparameter {unknown[0]!r}; allowed: {', '.join(TUNABLE_HYPERPARAMETERS)}."
        )
    coerced = {name: _coerce_hyperparameter(name, value) for name, value in overrides.items()}
    config = PRESETS[preset].with_overrides(**coerced)
    try:
        config.validate()
    except ValueError as error:
        raise _hyperparameter_error(f"Invalid hyperparameters: {error}.")
    return config


def training_config_of(training_run: TrainingRun) -> TrainingConfig:
    """The exact config a run trains with: its stored hyperparameters over its preset, re-checked."""
    return training_config_resolve(preset=training_run.preset, hyperparameters=training_run.hyperparameters)


def _stored_hyperparameters(config: TrainingConfig) -> dict[str, Any]:
    """Every setting, not only the overrides: a later change to a preset must not change an old run."""
    values = config.to_dict()
    values.pop("preset")
    return values


def _check_dataset_version(dataset_version: DatasetVersion) -> None:
    if dataset_version.kind != DatasetVersion.Kind.TRAINING:
        raise ApplicationError(
            f"Dataset v{dataset_version.number} is a {dataset_version.get_kind_display()}; "
            "train on a training snapshot of the catalog.",
            field="dataset_version",
        )
    if dataset_version.pruned_at is not None:
        raise ApplicationError(
            f"Dataset v{dataset_version.number} was removed by retention on "
            f"{dataset_version.pruned_at:%Y-%m-%d}; cut a new dataset version to train on.",
            field="dataset_version",
        )


def training_run_create(
    *,
    dataset_version: DatasetVersion,
    preset: str,
    hyperparameters: dict[str, Any] | None = None,
    trigger: str,
    actor=None,
) -> TrainingRun:
    """A queued TrainingRun with the resolved configuration. Nothing is sent to a worker here."""
    if trigger not in TrainingRun.Trigger.values:
        raise ApplicationError(
            f"Unknown trigger {trigger!r}; choose one of: {', '.join(TrainingRun.Trigger.values)}.",
            field="trigger",
        )
    _check_dataset_version(dataset_version)
    config = training_config_resolve(preset=preset, hyperparameters=hyperparameters)
    training_run = TrainingRun.objects.create(
        dataset_version=dataset_version,
        preset=preset,
        hyperparameters=_stored_hyperparameters(config),
        trigger=trigger,
        triggered_by=actor if actor is not None and actor.is_authenticated else None,
        # Known before the message exists, so the row and the broker message can be matched.
        celery_task_id=str(uuid.uuid4()),
    )
    logger.info(
        "Training run #%s created: preset %s on dataset v%s (%s)",
        training_run.pk,
        preset,
        dataset_version.number,
        trigger,
    )
    return training_run


def training_run_enqueue(
    *,
    dataset_version: DatasetVersion,
    preset: str,
    hyperparameters: dict[str, Any] | None = None,
    trigger: str,
    actor=None,
) -> TrainingRun:
    """Create a run and send it to the training queue once the surrounding transaction commits.

    Queuing on commit (never before) means a worker can never receive the id of a row it cannot see
    yet, and a rolled-back request never trains anything. Without a broker (eager mode) the training
    then runs in this process, after the commit.
    """
    with transaction.atomic():
        training_run = training_run_create(
            dataset_version=dataset_version,
            preset=preset,
            hyperparameters=hyperparameters,
            trigger=trigger,
            actor=actor,
        )
        run_id, task_id = training_run.pk, training_run.celery_task_id
        transaction.on_commit(lambda: _send_to_worker(run_id, task_id))
    return training_run


def _send_to_worker(training_run_id: int, task_id: str) -> None:
    from training.tasks import train_model_task

    try:
        train_model_task.apply_async(args=[training_run_id], task_id=task_id)
    except Exception as error:
        # Broker down: a queued row no worker will ever pick up would wait forever; say why instead.
        logger.exception("Could not queue training run #%s", training_run_id)
        TrainingRun.objects.filter(pk=training_run_id, status=TrainingRun.Status.QUEUED).update(
            status=TrainingRun.Status.FAILED,
            finished_at=timezone.now(),
            error=f"Could not send the run to the training queue ({type(error).__name__}: {error}). "
            "Check that the Celery broker is reachable, then start a new run.",
        )


def training_run_cancel(*, training_run: TrainingRun, actor=None) -> TrainingRun:
    """Stop a queued or running run.

    A queued run never starts (its worker sees the status and returns). A running one stops at its
    next progress report (at most one training step later) and removes its partial artifact.
    """
    with transaction.atomic():
        locked = TrainingRun.objects.select_for_update().get(pk=training_run.pk)
        if locked.status not in (TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING):
            raise ApplicationError(
                f"Training run #{locked.pk} is {locked.get_status_display().lower()}; "
                "only queued or running runs can be cancelled.",
                status_code=409,
            )
        now = timezone.now()
        who = getattr(actor, "username", None) or "the system"
        locked.status = TrainingRun.Status.CANCELLED
        locked.finished_at = now
        locked.eta_seconds = None
        locked.error = f"Cancelled by {who} at {now:%Y-%m-%d %H:%M:%S %Z}."
        locked.save(update_fields=["status", "finished_at", "eta_seconds", "error"])
    logger.info("Training run #%s cancelled by %s", locked.pk, who)
    return locked
