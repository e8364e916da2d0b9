"""What each arm of a live experiment wrote, scored as the gate scores, and the comparison of the two.

After a response is sent, the request hands its part in the experiment to this process's experiment
worker (one daemon thread, started lazily, with a bounded queue): a canary request's items with the
creatives its arm wrote; a shadow-drawn request's items with production's creatives, which the worker
then has the challenger write too (greedy, one variant, the request's channel and token limit). So the
challenger's work never delays a client's answer, and when the queue is full (the process is busier
than the challenger can shadow) the request is dropped from the shadow and counted, not waited for.
The worker yields to clients: it starts a shadow generation only once no client request of the process
is generating or queued (waiting at most SHADOW_IDLE_WAIT_SECONDS, else those shadow requests are
dropped and counted), and its thread runs at a lower CPU priority where the OS allows it. So a shadow
costs clients little while the process has spare time, and gives way when it has none: a process
saturated by clients shadows fewer requests (`dropped`, `CreativeOpsShadowDropping`), not slower ones.

Each output (the first, greedy variant) is scored as the gate scores: fact fidelity (`FactChecker`
with the synthetic vocabulary and the catalog's brands), limit compliance of its channel, and the
ad-policy lint; its length is kept. Rows are `ExperimentSample`s, at most EXPERIMENT_MAX_SAMPLES per
experiment; `ExperimentTally` counts every request and item of each arm past that cap.

With EXPERIMENT_WORKER_THREAD off (the tests), the work runs in the request thread after the response.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.db.models import F

from inference import metrics
from inference.live_experiments import Route
from inference.models import ExperimentArm, ExperimentSample, ExperimentTally

logger = logging.getLogger(__name__)

ARMS = (ExperimentArm.CHAMPION, ExperimentArm.CHALLENGER)
CHECKER_SECONDS = 600.0  # how long a process reuses its fact checker (the catalog's brands change)
TALLY_FLUSH_SECONDS = 2.0
JOBS_PER_ROUND = 16  # jobs the worker takes at once (one challenger generation, one insert)
ROOM_RECOUNT_SECONDS = 10.0
SHADOW_IDLE_WAIT_SECONDS = 1.0
PAIRS_PER_PAGE = 50
_CATEGORY_MAX = ExperimentSample._meta.get_field("category").max_length
_SKU_MAX = ExperimentSample._meta.get_field("sku").max_length


@dataclass
class ExperimentJob:
    """One request's part in an experiment, handed over after its response."""

    route: Route
    model_name: str
    endpoint: str
    channel: str
    max_new_tokens: int
    items: list[dict]  # model inputs
    tones: list[str]
    skus: list[str]
    answered: list[dict]  # the first creative of each item, as the client got it
    latency_ms: float


# --- scoring -----------------------------------------------------------------------------------


class _Checker:
    """The fact checker of this process, rebuilt every CHECKER_SECONDS (its brand list reads the catalog)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._checker = None
        self._built = 0.0

    def get(self):
        with self._lock:
            if self._checker is None or time.monotonic() - self._built > CHECKER_SECONDS:
                from products.generator import VOCABULARY
                from products.models import Product
                from training.ml.metrics import FactChecker

                terms = VOCABULARY.known_terms()
                brands = set(terms["known_brands"])
                brands.update(Product.objects.exclude(brand="").values_list("brand", flat=True).distinct())
                self._checker = FactChecker(brands, terms["known_nouns"], terms["known_features"])
                self._built = time.monotonic()
            return self._checker


_checker = _Checker()


def output_scores(*, creative: dict, item: dict, channel: str) -> dict:
    """The gate's per-output checks of one creative: faithful, compliant, lint_clean, length."""
    from training.ml.evaluate import passes_lint, within_limits
    from training.ml.formatting import creative_text, source_text

    text = creative_text(creative)
    source = source_text(item)
    return {
        "faithful": _checker.get().is_faithful(text, source, item.get("brand")),
        "compliant": within_limits(creative, channel),
        "lint_clean": passes_lint(creative, source),
        "length": len(text),
    }


def _arm_columns(arm: str, creative: dict, item: dict, channel: str, latency_ms: float) -> dict:
    scores = output_scores(creative=creative, item=item, channel=channel)
    output = {name: creative.get(name) for name in ("tone", "headline", "body", "cta")}
    return {
        f"{arm}_output": output,
        f"{arm}_latency_ms": latency_ms,
        f"{arm}_faithful": scores["faithful"],
        f"{arm}_compliant": scores["compliant"],
        f"{arm}_lint_clean": scores["lint_clean"],
        f"{arm}_length": scores["length"],
    }


# --- the worker --------------------------------------------------------------------------------


def experiment_follow_up(job: ExperimentJob) -> None:
    """Hand a request's part in its experiment to this process's worker (after the response)."""
    route = job.route
    _tallies.add(route.experiment_id, route.arm, requests=1, items=len(job.items))
    # a request not drawn is only counted (`Route.sampled`)
    if not settings.CREATIVEOPS["EXPERIMENT_WORKER_THREAD"]:
        try:
            if route.sampled:
                _process([job])
        finally:
            _tallies.flush()
    elif route.sampled:
        _worker.submit(job)
    else:
        _worker.ensure_started()  # its loop writes the tallies


def experiment_samples_flush() -> None:
    """Write the counted tallies now (tests, shutdown)."""
    _tallies.flush()


class _Tallies:
    """Per-process counts of requests and items per (experiment, arm), written every few seconds."""

    def __init__(self):
        self._lock = threading.Lock()
        self._counts: Counter = Counter()

    def add(
        self, experiment_id: int, arm: str, *, requests: int = 0, items: int = 0, dropped: int = 0
    ) -> None:
        with self._lock:
            self._counts[experiment_id, arm, "requests"] += requests
            self._counts[experiment_id, arm, "items"] += items
            self._counts[experiment_id, arm, "dropped"] += dropped

    def discard(self) -> None:
        with self._lock:
            self._counts = Counter()

    def flush(self) -> None:
        with self._lock:
            counts, self._counts = self._counts, Counter()
        per_row: dict[tuple[int, str], dict[str, int]] = {}
        for (experiment_id, arm, name), value in counts.items():
            if value:
                per_row.setdefault((experiment_id, arm), {})[name] = value
        for (experiment_id, arm), values in per_row.items():
            try:
                _tally_add(experiment_id, arm, values)
            except DatabaseError:
                logger.warning("Experiment #%s: tallies could not be written", experiment_id, exc_info=True)


def _tally_add(experiment_id: int, arm: str, values: dict[str, int]) -> None:
    updates = {name: F(name) + value for name, value in values.items()}
    with transaction.atomic():
        if ExperimentTally.objects.filter(experiment_id=experiment_id, arm=arm).update(**updates):
            return
        tally, created = ExperimentTally.objects.get_or_create(
            experiment_id=experiment_id, arm=arm, defaults=values
        )
        if not created:
            ExperimentTally.objects.filter(pk=tally.pk).update(**updates)


_tallies = _Tallies()


class _Worker:
    def __init__(self):
        self._queue: queue.Queue[ExperimentJob] | None = None
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def submit(self, job: ExperimentJob) -> None:
        self.ensure_started()
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            if job.route.shadow:
                _tallies.add(job.route.experiment_id, ExperimentArm.CHALLENGER, dropped=1)
                metrics.experiment_shadow_dropped()

    def ensure_started(self) -> None:
        if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
            return
        with self._lock:  # started lazily in the process that serves (a gunicorn worker after the fork)
            if self._thread is None or not self._thread.is_alive() or self._pid != os.getpid():
                self._pid = os.getpid()
                self._queue = queue.Queue(maxsize=int(settings.CREATIVEOPS["EXPERIMENT_QUEUE_MAX"]))
                self._thread = threading.Thread(target=self._run, name="experiment-worker", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        _lower_priority()
        next_flush = time.monotonic() + TALLY_FLUSH_SECONDS
        while True:
            try:
                jobs = [self._queue.get(timeout=TALLY_FLUSH_SECONDS)]
            except queue.Empty:
                jobs = []
            while jobs and len(jobs) < JOBS_PER_ROUND:  # what waits too: one generation, one insert
                try:
                    jobs.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                close_old_connections()
                if jobs:
                    _process(jobs)
                if time.monotonic() >= next_flush:
                    _tallies.flush()
                    next_flush = time.monotonic() + TALLY_FLUSH_SECONDS
            except Exception:  # the thread must survive anything; these jobs' samples are lost
                logger.exception("The experiment worker failed on %d jobs", len(jobs))
            finally:
                if not jobs:
                    connection.close()  # idle: hold no connection


def _lower_priority() -> None:
    """Let the request threads go first: raise this thread's nice value (Linux: per thread)."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


_worker = _Worker()
atexit.register(experiment_samples_flush)


def _process(jobs: list[ExperimentJob]) -> None:
    """Score and store the samples of `jobs`, the shadowed ones first written by the challenger (one
    generation for all the jobs of one challenger)."""
    shadowed = [job for job in jobs if job.route.shadow and job.route.challenger is not None]
    if shadowed and not _clients_idle(shadowed[0].model_name):
        for job in shadowed:  # the process stayed busy with clients: they go first, these are dropped
            _tallies.add(job.route.experiment_id, ExperimentArm.CHALLENGER, dropped=1)
            metrics.experiment_shadow_dropped()
        jobs = [job for job in jobs if not job.route.shadow]
        shadowed = []
    written = _shadow_generate(shadowed) if shadowed else {}
    rows = []
    for job in jobs:
        route = job.route
        challenger_creatives, challenger_ms = written.get(id(job), (None, None))
        if challenger_creatives is not None:
            _tallies.add(route.experiment_id, ExperimentArm.CHALLENGER, requests=1, items=len(job.items))
            metrics.experiment_request_observe(
                model_name=job.model_name,
                model_version=route.challenger.version,
                arm=ExperimentArm.CHALLENGER,
                mode=route.mode,
                seconds=challenger_ms / 1000,
            )
        room = _room.take(route.experiment_id, len(job.items))
        for index, item in enumerate(job.items[:room]):
            columns = _arm_columns(route.arm, job.answered[index], item, job.channel, job.latency_ms)
            if challenger_creatives is not None:
                columns |= _arm_columns(
                    ExperimentArm.CHALLENGER, challenger_creatives[index], item, job.channel, challenger_ms
                )
            rows.append(
                ExperimentSample(
                    experiment_id=route.experiment_id,
                    answered_by=route.arm,
                    endpoint=job.endpoint,
                    channel=job.channel,
                    tone=job.tones[index],
                    category=(item.get("category") or "")[:_CATEGORY_MAX],
                    sku=(job.skus[index] or "")[:_SKU_MAX],
                    item=item,
                    **columns,
                )
            )
    try:
        ExperimentSample.objects.bulk_create(rows)
    except DatabaseError:  # the experiment was deleted, or the database is away: samples, not records
        logger.warning("%d experiment samples could not be written", len(rows), exc_info=True)


class _Room:
    """How many more samples each experiment may keep, as this process last counted (EXPERIMENT_MAX_SAMPLES
    per experiment); the stored count is read again every ROOM_RECOUNT_SECONDS, so several processes
    overshoot the cap by at most what they stored in between."""

    def __init__(self):
        self._lock = threading.Lock()
        self._left: dict[int, tuple[int, float]] = {}  # experiment -> (room, counted at)

    def take(self, experiment_id: int, wanted: int) -> int:
        with self._lock:
            left, counted = self._left.get(experiment_id, (0, 0.0))
            if time.monotonic() - counted > ROOM_RECOUNT_SECONDS:
                cap = int(settings.CREATIVEOPS["EXPERIMENT_MAX_SAMPLES"])
                left = max(0, cap - ExperimentSample.objects.filter(experiment_id=experiment_id).count())
                counted = time.monotonic()
            taken = min(left, wanted)
            self._left[experiment_id] = (left - taken, counted)
            return taken

    def clear(self) -> None:
        with self._lock:
            self._left.clear()


_room = _Room()


def experiment_samples_reset() -> None:
    """Forget this process's counts and sample room (tests: experiment ids are reused between them)."""
    _tallies.discard()
    _room.clear()


def _clients_idle(model_name: str) -> bool:
    """Wait (at most SHADOW_IDLE_WAIT_SECONDS) until no client request of this process is generating or
    queued: a shadow generation starts only then, so that under load it yields the cores to clients."""
    from inference.batching import batcher_for, batching_enabled

    if not batching_enabled():
        return True  # no queue to watch: run at once (the thread's lower priority still applies)
    return batcher_for(model_name).wait_idle(SHADOW_IDLE_WAIT_SECONDS)


def _shadow_generate(jobs: list[ExperimentJob]) -> dict[int, tuple[list[dict], float]]:
    """The challenger's greedy creative for every item of `jobs`: {id(job): (creatives, latency ms)},
    the jobs of one challenger in one batched generation (each keeps its own channel and token limit)."""
    from inference.services.generation import clean_creative
    from training.ml.generator import GenerationRequest

    by_model: dict[int, list[ExperimentJob]] = {}
    for job in jobs:
        by_model.setdefault(id(job.route.challenger), []).append(job)
    written = {}
    for group in by_model.values():
        requests = [
            GenerationRequest(job.items, job.tones, 1, job.max_new_tokens, channel=job.channel)
            for job in group
        ]
        started = time.perf_counter()
        generated = group[0].route.challenger.generator.generate_many(requests)
        latency_ms = round((time.perf_counter() - started) * 1000, 2)
        for job, answer in zip(group, generated, strict=True):
            written[id(job)] = ([clean_creative(variants[0]) for variants in answer], latency_ms)
    return written


# --- retention ---------------------------------------------------------------------------------


def experiment_samples_prune(*, before) -> int:
    """Delete the samples of experiments that ended before `before` (the tallies stay)."""
    deleted, _ = ExperimentSample.objects.filter(
        experiment__stopped_at__isnull=False, experiment__stopped_at__lt=before
    ).delete()
    return deleted


# --- the comparison ----------------------------------------------------------------------------


def _percentile(values: Sequence[float], share: float) -> float | None:
    return round(float(np.percentile(values, share * 100)), 2) if values else None


def _rate(values: Sequence[bool]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def experiment_comparison(
    *, experiment, category: str | None = None, tone: str | None = None, page: int = 1
) -> dict:
    """Each arm's requests, latency p50/p95, fact fidelity, limit compliance, lint pass rate and output
    length on its live outputs, and the side-by-side pairs (shadow) for the same inputs, newest first,
    optionally of one category and tone."""
    tallies = {tally.arm: tally for tally in ExperimentTally.objects.filter(experiment=experiment)}
    samples = ExperimentSample.objects.filter(experiment=experiment)
    columns = ("latency_ms", "faithful", "compliant", "lint_clean", "length")
    arms = {}
    for arm in ARMS:
        values = list(
            samples.filter(**{f"{arm}_output__isnull": False}).values_list(
                *(f"{arm}_{name}" for name in columns)
            )
        )
        latency, faithful, compliant, lint_clean, length = (
            (list(column) for column in zip(*values, strict=True)) if values else ([],) * 5
        )
        tally = tallies.get(arm)
        arms[arm] = {
            "version": (
                experiment.champion if arm == ExperimentArm.CHAMPION else experiment.challenger
            ).version,
            "requests": tally.requests if tally else 0,
            "items": tally.items if tally else 0,
            "dropped": tally.dropped if tally else 0,
            "samples": len(values),
            "latency_p50_ms": _percentile(latency, 0.5),
            "latency_p95_ms": _percentile(latency, 0.95),
            "fact_fidelity": _rate(faithful),
            "limit_compliance": _rate(compliant),
            "lint_pass_rate": _rate(lint_clean),
            "mean_length": round(sum(length) / len(length), 1) if length else None,
        }
    paired = samples.filter(champion_output__isnull=False, challenger_output__isnull=False)
    filtered = paired
    if category:
        filtered = filtered.filter(category=category)
    if tone:
        filtered = filtered.filter(tone=tone)
    total = filtered.count()
    page = max(1, page)
    start = (page - 1) * PAIRS_PER_PAGE
    pairs = [
        {
            "id": sample.pk,
            "created_at": sample.created_at,
            "sku": sample.sku,
            "category": sample.category,
            "tone": sample.tone,
            "channel": sample.channel,
            "title": (sample.item or {}).get("title"),
            "brand": (sample.item or {}).get("brand"),
            **{
                arm: {
                    "output": getattr(sample, f"{arm}_output"),
                    "latency_ms": getattr(sample, f"{arm}_latency_ms"),
                    "faithful": getattr(sample, f"{arm}_faithful"),
                    "compliant": getattr(sample, f"{arm}_compliant"),
                    "lint_clean": getattr(sample, f"{arm}_lint_clean"),
                    "length": getattr(sample, f"{arm}_length"),
                }
                for arm in ARMS
            },
        }
        for sample in filtered.order_by("-created_at", "-id")[start : start + PAIRS_PER_PAGE]
    ]
    return {
        "experiment": experiment.pk,
        "mode": experiment.mode,
        "status": experiment.status,
        "arms": arms,
        "pairs": pairs,
        "pairs_total": total,
        "page": page,
        "pages": max(1, -(-total // PAIRS_PER_PAGE)),
        "filters": {"category": category or "", "tone": tone or ""},
        "categories": sorted(set(paired.values_list("category", flat=True))),
        "tones": sorted(set(paired.values_list("tone", flat=True))),
        "sample_cap": int(settings.CREATIVEOPS["EXPERIMENT_MAX_SAMPLES"]),
    }
