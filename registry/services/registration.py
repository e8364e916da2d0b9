"""Registering a finished training run as the next version of a model, through the evaluation gate."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from creativeops.core.errors import ApplicationError
from creativeops.core.numbering import number_next, numbered_create
from registry import selectors
from registry.models import ModelVersion
from registry.services import events
from registry.services.gate import GateDecision, evaluate_candidate
from registry.services.promotion import model_version_auto_promote, registry_side_effects_on_commit

logger = logging.getLogger(__name__)


def model_version_register(
    *, training_run, name: str | None = None, actor: AbstractBaseUser | None = None
) -> ModelVersion:
    """The next version of `name` (default: CREATIVEOPS["DEFAULT_MODEL_NAME"]) for a succeeded run.

    Idempotent per training run: a pipeline that delivers this step twice gets the version it made
    the first time. The gate (seconds) runs before the short numbering transaction, so no lock is
    held while models are scored. Under AUTO_PROMOTE a version that passed is promoted as `system`.
    """
    name = name or settings.CREATIVEOPS["DEFAULT_MODEL_NAME"]
    existing = _existing_version(training_run, name)
    if existing is not None:
        return existing
    _check_registrable(training_run)
    production = selectors.production_version(name)
    decision = _run_gate(training_run, production)
    version, created = _create_version(training_run, name, production, decision, actor)
    if created and version.gate_passed and settings.CREATIVEOPS["AUTO_PROMOTE"]:
        try:
            version = model_version_auto_promote(version=version)
        except ApplicationError as error:
            # The version stays a candidate for an operator; the reason is in the log and the console.
            logger.warning("Auto-promotion of %s v%s refused: %s", name, version.version, error.message)
    return version


def _existing_version(training_run, name: str) -> ModelVersion | None:
    existing = ModelVersion.objects.filter(training_run=training_run).first()
    if existing is not None and existing.name != name:
        raise ApplicationError(
            f"Training run #{training_run.pk} is already registered as {existing.name} v{existing.version}."
        )
    return existing


def _check_registrable(training_run) -> None:
    if training_run.status != "succeeded":
        raise ApplicationError(
            f"Training run #{training_run.pk} is {training_run.status}; "
            "only a succeeded run can be registered."
        )
    if not training_run.artifact_uri or not training_run.artifact_sha256:
        raise ApplicationError(f"Training run #{training_run.pk} has no recorded artifact to register.")


def _run_gate(training_run, production: ModelVersion | None) -> GateDecision:
    """Read the candidate's dataset version, the golden set and the out-of-distribution set (each
    checksum-verified) and score."""
    from products.services import dataset_version_create_golden, dataset_version_read
    from training.services.ood import ood_frame_read
    from training.storage import artifact_verify

    path = artifact_verify(
        uri=training_run.artifact_uri,
        sha256=training_run.artifact_sha256,
        owner=f"training run #{training_run.pk}",
        refused="was not registered",
    )
    config = settings.CREATIVEOPS
    golden = dataset_version_create_golden(seed=config["GOLDEN_SET_SEED"], size=config["GOLDEN_SET_SIZE"])
    return evaluate_candidate(
        candidate_artifact=path,
        production=production,
        test_frame=dataset_version_read(version=training_run.dataset_version),
        golden_frame=dataset_version_read(version=golden),
        ood_frame=ood_frame_read(),
    )


def _create_version(
    training_run, name: str, production: ModelVersion | None, decision: GateDecision, actor
) -> tuple[ModelVersion, bool]:
    """Insert with the next number of `name` (creativeops.core.numbering); a concurrent delivery of
    the same training run that registered it first wins, and its version is returned."""

    def existing() -> tuple[ModelVersion, bool] | None:
        found = ModelVersion.objects.filter(training_run=training_run).first()
        return (found, False) if found is not None else None

    def create() -> tuple[ModelVersion, bool]:
        found = existing()
        if found is not None:
            return found
        version = _insert(training_run, name, decision)
        events.register_event(version=version, production=production, actor=actor)
        if not decision.passed:
            events.reject_event(
                version=version,
                production=production,
                actor=None,
                reason=f"Rejected by the evaluation gate: {decision.reason}",
            )
        registry_side_effects_on_commit(name, [version.pk], production_changed=False)
        return version, True

    return numbered_create(
        lock_name=f"creativeops.registry:numbering:{name}",
        create=create,
        on_conflict=existing,
        what=f"a new version of {name}",
    )


def _insert(training_run, name: str, decision: GateDecision) -> ModelVersion:
    return ModelVersion.objects.create(
        name=name,
        version=number_next(ModelVersion.objects.filter(name=name), "version"),
        training_run=training_run,
        metrics=training_run.metrics or {},
        evaluation=decision.evaluation,
        gate_passed=decision.passed,
        gate_reason=decision.reason,
        artifact_uri=training_run.artifact_uri,
        artifact_sha256=training_run.artifact_sha256,
        status=ModelVersion.Status.CANDIDATE if decision.passed else ModelVersion.Status.REJECTED,
    )
