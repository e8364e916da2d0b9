"""One small function per audit event type (Saleor's events.py pattern).

Each is called inside the transaction of the change it records, so an event exists exactly when its
change committed. Events are append-only (see RegistryEvent and migration 0002).
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from registry.models import ModelVersion, RegistryEvent

SYSTEM_ACTOR_LABEL = "system"


def actor_label_of(actor: AbstractBaseUser | None, label: str | None = None) -> str:
    """`label` when given (a CLI run without a user), else the username, else "system" (policy)."""
    if label:
        return label
    if actor is None:
        return SYSTEM_ACTOR_LABEL
    return actor.get_username()


def version_snapshot(version: ModelVersion | None) -> dict | None:
    """What an auditor needs to judge the decision later, frozen at the time of the event."""
    if version is None:
        return None
    evaluation = version.evaluation or {}
    return {
        "id": version.pk,
        "version": version.version,
        "status": version.status,
        "artifact_sha256": version.artifact_sha256,
        "metrics": version.metrics,
        "gate_passed": version.gate_passed,
        "test": (evaluation.get("test") or {}).get("candidate"),
        "golden": (evaluation.get("golden") or {}).get("candidate"),
    }


def _record(
    *,
    action: str,
    model_name: str,
    actor: AbstractBaseUser | None,
    actor_label: str | None,
    from_version: ModelVersion | None,
    to_version: ModelVersion | None,
    reason: str,
    extra: dict | None = None,
) -> RegistryEvent:
    event = RegistryEvent(
        model_name=model_name,
        action=action,
        actor=actor,
        actor_label=actor_label_of(actor, actor_label),
        from_version=from_version,
        to_version=to_version,
        reason=reason,
        metrics_snapshot={
            "from": version_snapshot(from_version),
            "to": version_snapshot(to_version),
            **(extra or {}),
        },
    )
    event.save()
    return event


def _version_event(
    action: str,
    version: ModelVersion,
    from_version: ModelVersion | None,
    actor,
    reason: str,
    actor_label: str | None,
    /,
) -> RegistryEvent:
    """An event whose subject is `version` (the `to_version`), moving away from `from_version`."""
    return _record(
        action=action,
        model_name=version.name,
        actor=actor,
        actor_label=actor_label,
        from_version=from_version,
        to_version=version,
        reason=reason,
    )


def register_event(
    *, version: ModelVersion, production: ModelVersion | None, actor, actor_label: str | None = None
) -> RegistryEvent:
    reason = (
        f"Registered v{version.version} from training run #{version.training_run_id}. "
        f"Gate: {version.gate_reason}"
    )
    return _version_event(RegistryEvent.Action.REGISTER, version, production, actor, reason, actor_label)


def reject_event(
    *,
    version: ModelVersion,
    production: ModelVersion | None,
    actor,
    reason: str,
    actor_label: str | None = None,
) -> RegistryEvent:
    return _version_event(RegistryEvent.Action.REJECT, version, production, actor, reason, actor_label)


def promote_event(
    *,
    action: str,
    version: ModelVersion,
    previous: ModelVersion | None,
    actor,
    reason: str,
    actor_label: str | None = None,
) -> RegistryEvent:
    """`action` is promote, auto_promote, override_promote or rollback: each makes `version` production."""
    assert action in RegistryEvent.PRODUCTION_ACTIONS, action
    return _version_event(action, version, previous, actor, reason, actor_label)


def archive_event(
    *,
    version: ModelVersion,
    production: ModelVersion | None,
    actor,
    reason: str,
    actor_label: str | None = None,
) -> RegistryEvent:
    return _version_event(RegistryEvent.Action.ARCHIVE, version, production, actor, reason, actor_label)


def mlflow_sync_event(*, version: ModelVersion, reason: str) -> RegistryEvent:
    return _record(
        action=RegistryEvent.Action.MLFLOW_SYNC,
        model_name=version.name,
        actor=None,
        actor_label=None,
        from_version=None,
        to_version=version,
        reason=reason,
    )


def experiment_event(
    *, action: str, experiment, actor, reason: str, actor_label: str | None = None
) -> RegistryEvent:
    """Start, stop or end of an experiment: from the champion to the challenger, with its settings."""
    assert action in EXPERIMENT_ACTIONS, action
    return _record(
        action=action,
        model_name=experiment.model_name,
        actor=actor,
        actor_label=actor_label,
        from_version=experiment.champion,
        to_version=experiment.challenger,
        reason=reason,
        extra={
            "experiment": {
                "id": experiment.pk,
                "mode": experiment.mode,
                "percent": experiment.percent,
                "status": experiment.status,
            }
        },
    )


EXPERIMENT_ACTIONS = (
    RegistryEvent.Action.EXPERIMENT_START,
    RegistryEvent.Action.EXPERIMENT_STOP,
    RegistryEvent.Action.EXPERIMENT_END,
    RegistryEvent.Action.EXPERIMENT_FAIL,
)
