"""Start and stop champion-vs-challenger experiments on live traffic.

An experiment runs a candidate (the challenger) beside the production version it was started against
(the champion). At most one runs per model name: the partial unique index `experiment_one_running`
decides between parallel starts, and the loser gets a sentence naming the experiment that runs.
Every start and end is a RegistryEvent written in the same transaction. A production change (promote,
roll back) ends the running experiment of that name: `promoted` when the challenger won, else
`stopped` (called by registry.services.promotion under the production lock). A serving process that
cannot load the challenger ends it as `failed` (`experiment_fail`), so that no process keeps trying.

After each commit that starts or ends one, the serving key (`registry.selectors.experiment_key`) is
rewritten: every web process notices within MODEL_CHECK_INTERVAL_SECONDS, loads the challenger or
drops it.
"""

from __future__ import annotations

import logging
from functools import partial

from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from creativeops.core.errors import ApplicationError
from registry import selectors
from registry.models import Experiment, ModelVersion, RegistryEvent
from registry.services import events
from registry.services.promotion import REASON_MAX_LENGTH, _require_permission, clean_reason, lock_production

logger = logging.getLogger(__name__)

Mode = Experiment.Mode
Action = RegistryEvent.Action
DEFAULT_PERCENT = 10
# Shadow costs only background work; a canary answers real clients, so at most half of them.
PERCENT_LIMITS = {Mode.SHADOW: 100, Mode.CANARY: 50}


def experiment_start(
    *,
    version: ModelVersion,
    mode: str,
    percent: int | None = DEFAULT_PERCENT,
    reason: str,
    actor: AbstractBaseUser | None,
    actor_label: str | None = None,
) -> Experiment:
    """Start `version` (a candidate) as the challenger of the production version of its name."""
    reason = clean_reason(reason)
    _require_permission(actor, "start_experiment", "start experiments on")
    mode, percent = _clean_mode_and_percent(mode, percent)
    try:
        with transaction.atomic():
            # The champion must stay production while the experiment is created.
            lock_production(version.name)
            challenger = ModelVersion.objects.select_for_update().get(pk=version.pk)
            champion = _champion_for(challenger)
            experiment = Experiment.objects.create(
                model_name=challenger.name,
                challenger=challenger,
                champion=champion,
                mode=mode,
                percent=percent,
                reason=reason,
                started_by=actor,
                started_by_label=events.actor_label_of(actor, actor_label),
            )
            events.experiment_event(
                action=Action.EXPERIMENT_START,
                experiment=experiment,
                actor=actor,
                reason=reason,
                actor_label=actor_label,
            )
            _bump_key_on_commit(challenger.name)
            return experiment
    except IntegrityError:
        running = selectors.running_experiment(version.name)
        if running is None:  # not the one-running index: a bug, not an operator's race
            raise
        logger.info("Refused a second experiment for %s: %s runs", version.name, running)
        raise ApplicationError(
            f"An experiment is already running for {version.name}: {describe(running)}. Stop it first.",
            status_code=409,
        )


def experiment_stop(
    *, name: str, reason: str, actor: AbstractBaseUser | None, actor_label: str | None = None
) -> Experiment:
    """An operator ends the running experiment of `name`; production is unchanged."""
    reason = clean_reason(reason)
    _require_permission(actor, "stop_experiment", "stop experiments on")
    with transaction.atomic():
        experiment = _locked_running(name)
        if experiment is None:
            raise ApplicationError(f"No experiment is running for {name}.", status_code=404)
        _finish(experiment, Experiment.Status.STOPPED, Action.EXPERIMENT_STOP, actor, actor_label, reason)
    return experiment


def experiment_end_on_production_change(
    *, production: ModelVersion, event: RegistryEvent
) -> Experiment | None:
    """Inside a promotion or rollback (`event`): end the running experiment of that name, if any."""
    experiment = _locked_running(production.name)
    if experiment is None:
        return None
    won = experiment.challenger_id == production.pk
    status = Experiment.Status.PROMOTED if won else Experiment.Status.STOPPED
    reason = (
        f"{production.name} v{production.version} went to production "
        f"({event.get_action_display().lower()}): {event.reason}"
    )
    _finish(experiment, status, Action.EXPERIMENT_END, event.actor, event.actor_label, reason)
    return experiment


def experiment_fail(*, experiment_id: int, message: str, actor_label: str) -> Experiment | None:
    """A serving process could not load the challenger of `experiment_id`: end it as `failed`, with an
    audit event naming the process and the error. None when it is no longer running (another process
    reported first, or an operator stopped it): the first report wins, the others change nothing."""
    reason = clean_reason(f"The challenger could not be served: {message}"[:REASON_MAX_LENGTH])
    with transaction.atomic():
        experiment = (
            Experiment.objects.select_for_update(of=("self",))
            .running()
            .filter(pk=experiment_id)
            .select_related("challenger", "champion")
            .first()
        )
        if experiment is None:
            return None
        _finish(experiment, Experiment.Status.FAILED, Action.EXPERIMENT_FAIL, None, actor_label, reason)
    logger.error("Experiment #%s of %s failed: %s", experiment.pk, experiment.model_name, message)
    return experiment


def experiment_key_bump(*, name: str) -> dict:
    """Write the serving key of `name`'s experiment from committed state (from on_commit)."""
    state = selectors.experiment_state(name, selectors.running_experiment(name))
    cache.set(selectors.experiment_cache_key(name), state, timeout=None)
    return state


def _bump_key_on_commit(name: str) -> None:
    # robust: a cache outage must not undo a committed start or stop; processes that cannot read the
    # key ask the database (inference.live_experiments).
    transaction.on_commit(partial(experiment_key_bump, name=name), robust=True)


def describe(experiment: Experiment) -> str:
    return (
        f"#{experiment.pk}, v{experiment.challenger.version} against v{experiment.champion.version} "
        f"in {experiment.mode} at {experiment.percent}%, started {experiment.started_at:%Y-%m-%d %H:%M} "
        f"by {experiment.started_by_label}"
    )


# --- Rules -----------------------------------------------------------------------------------------


def _clean_mode_and_percent(mode: str, percent: int | None) -> tuple[str, int]:
    if mode not in Mode.values:
        raise ApplicationError(
            f"The mode must be one of {', '.join(Mode.values)} (got {mode!r}).", field="mode"
        )
    percent = DEFAULT_PERCENT if percent is None else percent
    limit = PERCENT_LIMITS[mode]
    if isinstance(percent, bool) or not isinstance(percent, int) or not 1 <= percent <= limit:
        raise ApplicationError(
            f"percent must be a whole number from 1 to {limit} for a {mode} experiment (got {percent!r}).",
            field="percent",
        )
    return mode, percent


def _champion_for(challenger: ModelVersion) -> ModelVersion:
    label = f"{challenger.name} v{challenger.version}"
    if challenger.status == ModelVersion.Status.PRODUCTION:
        raise ApplicationError(f"{label} is the production version; it cannot be its own challenger.")
    if challenger.status != ModelVersion.Status.CANDIDATE:
        raise ApplicationError(
            f"{label} is {challenger.get_status_display().lower()}; only a candidate can be a challenger."
        )
    champion = ModelVersion.objects.select_for_update().production().for_name(challenger.name).first()
    if champion is None:
        raise ApplicationError(
            f"{challenger.name} has no production version to compare with; promote one first."
        )
    return champion


def _locked_running(name: str) -> Experiment | None:
    return (
        Experiment.objects.select_for_update(of=("self",))
        .running()
        .for_name(name)
        .select_related("challenger", "champion")
        .first()
    )


def _finish(experiment: Experiment, status: str, action: str, actor, actor_label, reason: str) -> None:
    experiment.status = status
    experiment.stopped_at = timezone.now()
    experiment.stopped_by = actor
    experiment.stopped_by_label = events.actor_label_of(actor, actor_label)
    experiment.stop_reason = reason
    experiment.save(update_fields=["status", "stopped_at", "stopped_by", "stopped_by_label", "stop_reason"])
    events.experiment_event(
        action=action, experiment=experiment, actor=actor, reason=reason, actor_label=actor_label
    )
    _bump_key_on_commit(experiment.model_name)
