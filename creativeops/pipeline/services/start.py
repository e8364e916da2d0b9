"""Starting a pipeline run: the one entry point (beat, admin, CLI, API, drift), its options, the lock."""

from __future__ import annotations

import logging
import secrets
import threading
from functools import partial

from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.utils import timezone

from creativeops.core.errors import ApplicationError
from creativeops.pipeline.models import PipelineRun
from creativeops.pipeline.services.reaper import lease_duration, pipeline_run_fail, pipeline_runs_reap_stale

logger = logging.getLogger(__name__)

ACTIVE_STATUSES = (PipelineRun.Status.QUEUED, PipelineRun.Status.RUNNING)
DEFAULT_OPTIONS = {"preset": "small", "new_products": 0, "seed": None, "hyperparameters": {}}


def new_products_limit() -> int:
    """Products one run may generate: ten generate-API requests' worth (the writer streams them)."""
    return settings.CREATIVEOPS["GENERATE_MAX_COUNT"] * 10


def _whole_number(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def pipeline_options_clean(options: dict | None) -> dict:
    """The options a schedule entry, the admin, the CLI or the API passes, checked and completed.

    Every refusal is an ApplicationError naming the option, so an operator editing the nightly
    entry's kwargs or an API client knows what to fix.
    """
    from products.generator import SEED_LIMIT
    from training.ml import PRESETS
    from training.services import training_config_resolve

    if options is not None and not isinstance(options, dict):
        raise ApplicationError("Pipeline options must be an object of name → value.", field="options")
    merged = {**DEFAULT_OPTIONS, **(options or {})}
    unknown = sorted(set(merged) - set(DEFAULT_OPTIONS))
    if unknown:
        raise ApplicationError(
            f"Unknown pipeline option {unknown[0]!r}; allowed: {', '.join(DEFAULT_OPTIONS)}.",
            field=unknown[0],
        )
    if merged["preset"] not in PRESETS:
        raise ApplicationError(
            f"Unknown preset {merged['preset']!r}; choose one of: {', '.join(PRESETS)}.", field="preset"
        )
    limit = new_products_limit()
    if not _whole_number(merged["new_products"]) or not 0 <= merged["new_products"] <= limit:
        raise ApplicationError(
            f"new_products must be a whole number from 0 to {limit:,}; got {merged['new_products']!r}.",
            field="new_products",
        )
    seed = merged["seed"]
    if seed is not None and (not _whole_number(seed) or not 0 <= seed < SEED_LIMIT):
        raise ApplicationError(
            f"seed must be a whole number from 0 to {SEED_LIMIT - 1}; got {seed!r}.", field="seed"
        )
    if seed is not None and seed == settings.CREATIVEOPS["GOLDEN_SET_SEED"]:
        raise ApplicationError(
            f"Seed {seed} is the golden evaluation set's seed (GOLDEN_SET_SEED); pick another.", field="seed"
        )
    merged["hyperparameters"] = dict(merged["hyperparameters"] or {})
    # Checked now (unknown keys, types, limits), not an hour later when the training step starts.
    training_config_resolve(preset=merged["preset"], hyperparameters=merged["hyperparameters"])
    return merged


def _random_seed() -> int:
    golden = settings.CREATIVEOPS["GOLDEN_SET_SEED"]
    while (seed := secrets.randbelow(2**31)) == golden:
        continue
    return seed


def pipeline_start(
    *,
    trigger: str,
    actor=None,
    options: dict | None = None,
    model_name: str | None = None,
    background: bool = False,
) -> PipelineRun:
    """Start the chain for `model_name` (default CREATIVEOPS["DEFAULT_MODEL_NAME"]).

    Returns the new run, or a `skipped` run naming the one that holds the lock. The chain is queued
    only after the run's row commits. Without a broker (eager mode) the chain runs in this process:
    after the commit, before this function returns, or on a daemon thread when `background` is set
    (a web request must answer at once; its worker process keeps training).
    """
    if trigger not in PipelineRun.Trigger.values:
        raise ApplicationError(
            f"Unknown trigger {trigger!r}; choose one of: {', '.join(PipelineRun.Trigger.values)}.",
            field="trigger",
        )
    name = model_name or settings.CREATIVEOPS["DEFAULT_MODEL_NAME"]
    cleaned = pipeline_options_clean(options)
    if cleaned["seed"] is None and cleaned["new_products"]:
        cleaned["seed"] = _random_seed()
    actor = actor if getattr(actor, "is_authenticated", False) else None
    steps = {step: {"status": "pending"} for step in PipelineRun.STEPS}
    # A run whose worker died holds the lock until its lease runs out; release it before trying.
    pipeline_runs_reap_stale(model_name=name)
    with transaction.atomic():
        try:
            with transaction.atomic():
                run = PipelineRun.objects.create(
                    model_name=name,
                    status=PipelineRun.Status.QUEUED,
                    trigger=trigger,
                    triggered_by=actor,
                    options=cleaned,
                    steps=steps,
                    lease_expires_at=timezone.now() + lease_duration(),
                )
        except IntegrityError:
            return _record_skipped(name=name, trigger=trigger, actor=actor, options=cleaned, steps=steps)
        logger.info("Pipeline run #%s of %s started (%s): %s", run.pk, name, trigger, cleaned)
        transaction.on_commit(partial(_enqueue_chain, run.pk, background=background))
    run.refresh_from_db()
    return run


def pipeline_start_scheduled(*, options: dict | None = None, model_name: str | None = None) -> PipelineRun:
    """What beat runs at night. Options an operator mistyped in the schedule entry's kwargs become a
    failed run that says what to fix, visible in the admin, instead of a task error in a log."""
    try:
        return pipeline_start(trigger=PipelineRun.Trigger.SCHEDULE, options=options, model_name=model_name)
    except ApplicationError as error:
        now = timezone.now()
        return PipelineRun.objects.create(
            model_name=model_name or settings.CREATIVEOPS["DEFAULT_MODEL_NAME"],
            status=PipelineRun.Status.FAILED,
            trigger=PipelineRun.Trigger.SCHEDULE,
            options=options if isinstance(options, dict) else {"invalid": repr(options)},
            steps={step: {"status": "pending"} for step in PipelineRun.STEPS},
            error=f"The schedule entry's options are invalid: {error.message} "
            "Edit the entry's kwargs under Periodic tasks in the admin.",
            started_at=now,
            finished_at=now,
        )


def _record_skipped(*, name, trigger, actor, options, steps) -> PipelineRun:
    holder = PipelineRun.objects.filter(model_name=name, status__in=ACTIVE_STATUSES).first()
    holder_text = (
        f"pipeline run #{holder.pk} (started {holder.created_at:%Y-%m-%d %H:%M:%S} UTC) is still "
        f"{holder.status}"
        if holder
        else "another run is still active"
    )
    run = PipelineRun.objects.create(
        model_name=name,
        status=PipelineRun.Status.SKIPPED,
        trigger=trigger,
        triggered_by=actor,
        options=options,
        steps=steps,
        skipped_because_of=holder,
        error=f"Skipped: {holder_text}; one pipeline runs at a time per model ({name}).",
        finished_at=timezone.now(),
    )
    logger.info("Pipeline run #%s skipped: %s", run.pk, run.error)
    return run


def pipeline_chain(pipeline_run_id: int):
    """The Celery canvas of one run: five immutable signatures, each carrying only the run's id."""
    from celery import chain

    from creativeops.pipeline import tasks

    return chain(
        tasks.pipeline_generate.si(pipeline_run_id),
        tasks.pipeline_snapshot.si(pipeline_run_id),
        tasks.pipeline_train.si(pipeline_run_id),
        tasks.pipeline_verify_artifact.si(pipeline_run_id),
        tasks.pipeline_score_and_register.si(pipeline_run_id),
    )


def _eager() -> bool:
    from creativeops.celery import app

    return bool(app.conf.task_always_eager)


def _enqueue_chain(run_id: int, *, background: bool) -> None:
    if not _eager():
        try:
            pipeline_chain(run_id).apply_async()
        except Exception as error:
            # Broker down: a queued run no worker will ever see would hold the lock; say why instead.
            logger.exception("Could not queue pipeline run #%s", run_id)
            pipeline_run_fail(
                pipeline_run_id=run_id,
                message=f"Could not send the run to the Celery broker ({type(error).__name__}: {error}). "
                "Check that CELERY_BROKER_URL is reachable, then start a new run.",
            )
        return
    if background:
        threading.Thread(
            target=_run_in_process,
            args=(run_id,),
            kwargs={"own_thread": True},
            name=f"pipeline-run-{run_id}",
            # A process that exits does not wait for it; the reaper fails the run once its lease ends.
            daemon=True,
        ).start()
    else:
        _run_in_process(run_id)


def _run_in_process(run_id: int, *, own_thread: bool = False) -> None:
    """Eager mode: the same chain and tasks, run here. Step failures are recorded by the steps; what
    escapes (an error after its retries, Ctrl-C) still ends the run as failed, never left running."""
    try:
        pipeline_chain(run_id).apply_async()
    except Exception as error:
        logger.exception("Pipeline run #%s stopped", run_id)
        pipeline_run_fail(pipeline_run_id=run_id, message=f"{type(error).__name__}: {error}")
    except BaseException:
        pipeline_run_fail(
            pipeline_run_id=run_id, message="Interrupted (Ctrl-C or shutdown) before it finished."
        )
        raise
    finally:
        if own_thread:
            connections.close_all()  # this thread's own connections
