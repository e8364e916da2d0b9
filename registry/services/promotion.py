"""Approve, promote, reject, roll back and archive model versions.

Every function here is one transaction that (1) takes the per-name production lock, (2) locks the
rows it changes with SELECT ... FOR UPDATE, (3) checks the rules, (4) changes the rows, (5) writes
its RegistryEvent, and (6) queues side effects with `transaction.on_commit`: the serving cache key
and the MLflow mirror only ever see committed state. The partial unique index on production is the
backstop; if it fires anyway the caller gets a sentence to act on, never an IntegrityError page.
"""

from __future__ import annotations

import logging
from functools import partial

from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from creativeops.core.errors import ApplicationError
from creativeops.core.locks import advisory_xact_lock
from registry import selectors, signals
from registry.models import ModelVersion, RegistryEvent
from registry.services import events

logger = logging.getLogger(__name__)

Status = ModelVersion.Status
Action = RegistryEvent.Action
REASON_MAX_LENGTH = 2000
NO_PRODUCTION = 0  # `expected_production` value meaning "the caller saw no production version"


# --- Rules shared by every operation --------------------------------------------------------------


def clean_reason(reason: str | None) -> str:
    cleaned = (reason or "").strip()
    if not cleaned:
        raise ApplicationError("A reason is required: it is kept in the audit trail.", field="reason")
    if len(cleaned) > REASON_MAX_LENGTH:
        raise ApplicationError(
            f"The reason is {len(cleaned)} characters long; the limit is {REASON_MAX_LENGTH}.", field="reason"
        )
    return cleaned


def _require_permission(actor: AbstractBaseUser | None, codename: str, doing: str) -> None:
    """A named user must hold the permission; `None` is the system (policy, or a trusted CLI run)."""
    if actor is not None and not actor.has_perm(f"registry.{codename}"):
        raise ApplicationError(
            f"{actor.get_username()} does not have permission to {doing} model versions.", status_code=403
        )


def _label(version: ModelVersion) -> str:
    return f"{version.name} v{version.version}"


def _verify_artifact(version: ModelVersion, *, refused: str) -> None:
    """The files must still be the ones the gate evaluated: manifest checksums and the recorded sha."""
    from training.storage import artifact_verify

    if version.pruned_at is not None:
        raise ApplicationError(
            f"The artifact of {_label(version)} was deleted by retention on {version.pruned_at:%Y-%m-%d}; "
            f"it {refused}."
        )
    artifact_verify(
        uri=version.artifact_uri, sha256=version.artifact_sha256, owner=_label(version), refused=refused
    )


def _locked_production(name: str) -> ModelVersion | None:
    return ModelVersion.objects.select_for_update().filter(name=name, status=Status.PRODUCTION).first()


def _check_expected(name: str, current: ModelVersion | None, expected: int | None) -> None:
    """Optimistic check for a person who decided while looking at a given production version."""
    if expected is None:
        return
    if (current.version if current else NO_PRODUCTION) != expected:
        raise ApplicationError(concurrent_change_message(name), status_code=409)


def concurrent_change_message(name: str) -> str:
    return f"Another promotion of {name} committed first; reload and try again"


def production_key_bump(*, name: str) -> dict:
    """Write the serving key from committed state (called from on_commit, so the row is visible)."""
    state = selectors.production_state(name, selectors.production_version(name))
    cache.set(selectors.production_cache_key(name), state, timeout=None)
    return state


def _queue_mirror(version_ids: list[int]) -> None:
    from registry.tasks import mirror_to_mlflow

    for version_id in version_ids:
        mirror_to_mlflow.delay(version_id)


def _announce_production_change(name: str) -> None:
    signals.production_changed.send(sender=ModelVersion, name=name)


def registry_side_effects_on_commit(name: str, version_ids: list[int], *, production_changed: bool) -> None:
    """Side effects of a committed change. `robust`: a cache or broker outage is logged, and must not
    turn a committed promotion into an error page (catch-up and the DB fallback recover)."""
    if production_changed:
        transaction.on_commit(partial(production_key_bump, name=name), robust=True)
        transaction.on_commit(partial(_announce_production_change, name), robust=True)
    transaction.on_commit(partial(_queue_mirror, version_ids), robust=True)


def _production_side_effects(target: ModelVersion, current: ModelVersion | None) -> None:
    changed = [target.pk] + ([current.pk] if current else [])
    registry_side_effects_on_commit(target.name, changed, production_changed=True)


def _set_production(target: ModelVersion, current: ModelVersion | None, actor) -> None:
    """`target` becomes production and `current` (read under the lock) archived. The version returned
    to the caller carries `replaced_production`: what THIS transaction archived (None if nothing was in
    production), which under concurrent promotions may differ from what the caller saw beforehand."""
    target.replaced_production = current
    now = timezone.now()
    if current is not None:
        current.status = Status.ARCHIVED
        current.mlflow_synced = False
        current.save(update_fields=["status", "mlflow_synced"])
    target.status = Status.PRODUCTION
    target.promoted_at = now
    target.promoted_by = actor
    target.mlflow_synced = False
    target.save(update_fields=["status", "promoted_at", "promoted_by", "mlflow_synced"])


def _record_production_change(*, version: ModelVersion, **event_fields) -> None:
    """The audit event of a production change; it also ends a running experiment of that name."""
    from registry.services.experiments import experiment_end_on_production_change  # imports this module

    event = events.promote_event(version=version, **event_fields)
    experiment_end_on_production_change(production=version, event=event)


def lock_production(name: str) -> None:
    """Serialise changes of `name`'s production version (inside atomic(); creativeops.core.locks)."""
    advisory_xact_lock(f"creativeops.registry:production:{name}")


def _production_change(name: str, body):
    """Run `body()` in one transaction under the name's production lock; a lost race becomes a 409."""
    try:
        with transaction.atomic():
            lock_production(name)
            return body()
    except IntegrityError:
        logger.warning("Concurrent change of %s hit the one-production constraint", name, exc_info=True)
        raise ApplicationError(concurrent_change_message(name), status_code=409)


# --- Operations -----------------------------------------------------------------------------------


def model_version_promote(
    *,
    version: ModelVersion,
    actor: AbstractBaseUser | None,
    reason: str,
    force: bool = False,
    expected_production: int | None = None,
    actor_label: str | None = None,
) -> ModelVersion:
    """Approve and promote a candidate; the previous production becomes archived (and is the returned
    version's `replaced_production`).

    A rejected version needs `force=True` and the override permission (an `override_promote` event).
    `expected_production`: the production version number the caller saw (NO_PRODUCTION for none);
    when given and production has changed since, the promotion is refused (409) instead of applied.
    `actor=None` is the system: policy (`auto_promote`), or a CLI run labelled by `actor_label`.
    """
    reason = clean_reason(reason)
    _require_permission(actor, "promote_modelversion", "promote")

    def body() -> ModelVersion:
        target = ModelVersion.objects.select_for_update().get(pk=version.pk)
        current = _locked_production(target.name)
        _check_expected(target.name, current, expected_production)
        action = _promotion_action(target, actor, force)
        _verify_artifact(target, refused="was not promoted")
        _set_production(target, current, actor)
        _record_production_change(
            action=action,
            version=target,
            previous=current,
            actor=actor,
            reason=reason,
            actor_label=actor_label,
        )
        _production_side_effects(target, current)
        return target

    return _production_change(version.name, body)


def _promotion_action(target: ModelVersion, actor, force: bool) -> str:
    if target.status == Status.PRODUCTION:
        raise ApplicationError(f"{_label(target)} is already in production.")
    if target.status == Status.ARCHIVED:
        raise ApplicationError(
            f"{_label(target)} is archived; only a candidate can be promoted "
            "(roll back to return to an earlier production version)."
        )
    if target.status == Status.CANDIDATE:
        return Action.PROMOTE
    if not force:
        raise ApplicationError(
            f"{_label(target)} was rejected by the evaluation gate; promoting it anyway needs "
            "an explicit override of the gate and the override permission.",
            field="force",
        )
    if actor is None:
        raise ApplicationError("Only a named user with the override permission can promote over the gate.")
    _require_permission(actor, "override_gate_modelversion", "override the gate for")
    return Action.OVERRIDE_PROMOTE


def model_version_auto_promote(*, version: ModelVersion) -> ModelVersion:
    """Policy (AUTO_PROMOTE): a candidate that passed the gate goes to production as `system`."""
    reason = f"Auto-promoted by policy (AUTO_PROMOTE): the gate passed. {version.gate_reason}"

    def body() -> ModelVersion:
        target = ModelVersion.objects.select_for_update().get(pk=version.pk)
        if target.status != Status.CANDIDATE or not target.gate_passed:
            raise ApplicationError(f"{_label(target)} is not a candidate that passed the gate.")
        current = _locked_production(target.name)
        _verify_artifact(target, refused="was not promoted")
        _set_production(target, current, None)
        _record_production_change(
            action=Action.AUTO_PROMOTE,
            version=target,
            previous=current,
            actor=None,
            reason=reason[:REASON_MAX_LENGTH],
        )
        _production_side_effects(target, current)
        return target

    return _production_change(version.name, body)


def model_version_rollback(
    *,
    name: str,
    actor: AbstractBaseUser | None,
    reason: str,
    to_version: ModelVersion | int | None = None,
    expected_production: int | None = None,
    actor_label: str | None = None,
) -> ModelVersion:
    """Make an earlier production version production again (`rollback` event).

    Without `to_version`: the most recent earlier promote/rollback target that is not the current
    production. With it (a ModelVersion or its number): that version, which must have been
    production before. Nothing changes when there is nowhere to go. `expected_production` as in
    `model_version_promote`.
    """
    reason = clean_reason(reason)
    _require_permission(actor, "rollback_modelversion", "roll back")
    wanted = to_version.version if isinstance(to_version, ModelVersion) else to_version

    def body() -> ModelVersion:
        current = _locked_production(name)
        _check_expected(name, current, expected_production)
        target = _rollback_target(name, current, wanted)
        _verify_artifact(target, refused="was not rolled back to")
        _set_production(target, current, actor)
        _record_production_change(
            action=Action.ROLLBACK,
            version=target,
            previous=current,
            actor=actor,
            reason=reason,
            actor_label=actor_label,
        )
        _production_side_effects(target, current)
        return target

    return _production_change(name, body)


def _rollback_target(name: str, current: ModelVersion | None, wanted: int | None) -> ModelVersion:
    if wanted is None:
        previous = selectors.previous_production(name=name, current=current)
        if previous is None:
            raise ApplicationError(f"There is no earlier production version of {name} to roll back to")
        return ModelVersion.objects.select_for_update().get(pk=previous.pk)
    target = ModelVersion.objects.select_for_update().filter(name=name, version=wanted).first()
    if target is None:
        raise ApplicationError(f"{name} has no version {wanted}.", field="to_version", status_code=404)
    if current is not None and target.pk == current.pk:
        raise ApplicationError(f"{_label(target)} is already in production; nothing to roll back.")
    if not selectors.was_in_production(target):
        raise ApplicationError(
            f"{_label(target)} was never in production; promote it instead of rolling back to it.",
            field="to_version",
        )
    return target


def model_version_reject(
    *, version: ModelVersion, actor: AbstractBaseUser | None, reason: str, actor_label: str | None = None
) -> ModelVersion:
    """An operator turns a candidate down (it stays registered, with the reason, for the record)."""
    reason = clean_reason(reason)
    _require_permission(actor, "reject_modelversion", "reject")
    with transaction.atomic():
        target = ModelVersion.objects.select_for_update().get(pk=version.pk)
        if target.status != Status.CANDIDATE:
            raise ApplicationError(
                f"Only a candidate can be rejected; {_label(target)} is "
                f"{target.get_status_display().lower()}."
            )
        _retire(
            target, Status.REJECTED, events.reject_event, actor=actor, reason=reason, actor_label=actor_label
        )
    return target


def model_version_archive(
    *, version: ModelVersion, actor: AbstractBaseUser | None, reason: str, actor_label: str | None = None
) -> ModelVersion:
    """Retire a version that is not in production (a candidate nobody will promote, an old one)."""
    reason = clean_reason(reason)
    _require_permission(actor, "archive_modelversion", "archive")
    with transaction.atomic():
        lock_production(version.name)
        target = ModelVersion.objects.select_for_update().get(pk=version.pk)
        if target.status == Status.PRODUCTION:
            raise ApplicationError(
                f"{_label(target)} is in production; promote or roll back to another version "
                "before archiving it."
            )
        if target.status == Status.ARCHIVED:
            raise ApplicationError(f"{_label(target)} is already archived.")
        _retire(
            target, Status.ARCHIVED, events.archive_event, actor=actor, reason=reason, actor_label=actor_label
        )
    return target


def _retire(
    target: ModelVersion, status: str, record_event, *, actor, reason: str, actor_label: str | None
) -> None:
    """Move a locked, non-production `target` to `status` (rejected, archived), record the event with
    `record_event` and queue the registry side effects (MLflow sync) for after the commit."""
    target.status = status
    target.mlflow_synced = False
    target.save(update_fields=["status", "mlflow_synced"])
    record_event(
        version=target,
        production=selectors.production_version(target.name),
        actor=actor,
        reason=reason,
        actor_label=actor_label,
    )
    registry_side_effects_on_commit(target.name, [target.pk], production_changed=False)
