"""Reads of the registry: the production version, its cache key for serving, histories for the console."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.db.models import QuerySet

from registry.models import Experiment, ModelVersion, RegistryEvent
from training.ml.channels import CHANNELS
from training.ml.metrics import CHANNEL_METRICS, OOD_METRICS

CACHE_KEY_PREFIX = "registry:production"
EXPERIMENT_KEY_PREFIX = "registry:experiment"


def default_model_name() -> str:
    return settings.CREATIVEOPS["DEFAULT_MODEL_NAME"]


def production_version(name: str | None = None) -> ModelVersion | None:
    """The version now in production for `name` (the database guarantees at most one)."""
    return (
        ModelVersion.objects.production()
        .for_name(name or default_model_name())
        .select_related("training_run")
        .first()
    )


def production_cache_key(name: str) -> str:
    return f"{CACHE_KEY_PREFIX}:{name}"


def production_state(name: str, version: ModelVersion | None) -> dict:
    """What serving needs to notice a change and load the right artifact (JSON-serialisable)."""
    if version is None:
        return dict.fromkeys(("version", "id", "sha", "artifact_uri", "changed_at"), None) | {"name": name}
    return {
        "name": name,
        "version": version.version,
        "id": version.pk,
        "sha": version.artifact_sha256,
        "artifact_uri": version.artifact_uri,
        "changed_at": version.promoted_at.isoformat() if version.promoted_at else None,
    }


def production_version_key(name: str | None = None) -> dict:
    """The production version key that serving processes poll every few seconds.

    Written by the registry after each commit that changes production. When the cache has lost it
    (a restart, an eviction) it is rebuilt from the database with `cache.add`, so a rebuild that
    raced with a promotion never overwrites the newer value the promotion set.
    """
    name = name or default_model_name()
    return _cached_state(production_cache_key(name), lambda: production_state(name, production_version(name)))


def _cached_state(key: str, build) -> dict:
    """The serving key `key` from the cache, or `build()` stored with `cache.add` (never overwriting a
    newer value a commit set meanwhile) when the cache lost it."""
    state = cache.get(key)
    if state is None:
        state = build()
        cache.add(key, state, timeout=None)
    return state


def running_experiment(name: str | None = None) -> Experiment | None:
    """The experiment running for `name` (the database guarantees at most one)."""
    return (
        Experiment.objects.running()
        .for_name(name or default_model_name())
        .select_related("challenger", "champion")
        .first()
    )


def experiment_cache_key(name: str) -> str:
    return f"{EXPERIMENT_KEY_PREFIX}:{name}"


def experiment_state(name: str, experiment: Experiment | None) -> dict:
    """What serving needs to run an experiment: its mode, share and the challenger's artifact
    (JSON-serialisable; `id` None when none runs)."""
    if experiment is None:
        return {"name": name, "id": None}
    challenger = experiment.challenger
    return {
        "name": name,
        "id": experiment.pk,
        "mode": experiment.mode,
        "percent": experiment.percent,
        "champion_id": experiment.champion_id,
        "champion_version": experiment.champion.version,
        "challenger": {
            "id": challenger.pk,
            "version": challenger.version,
            "sha": challenger.artifact_sha256,
            "artifact_uri": challenger.artifact_uri,
        },
    }


def experiment_key(name: str | None = None) -> dict:
    """The running-experiment key serving processes poll with the production key.

    Written after each commit that starts or ends an experiment; rebuilt from the database with
    `cache.add` when the cache lost it (`_cached_state`), as `production_version_key`.
    """
    name = name or default_model_name()
    return _cached_state(experiment_cache_key(name), lambda: experiment_state(name, running_experiment(name)))


def experiments(name: str | None = None) -> QuerySet[Experiment]:
    queryset = Experiment.objects.select_related("challenger", "champion")
    return queryset.for_name(name) if name else queryset


def model_versions(name: str | None = None) -> QuerySet[ModelVersion]:
    queryset = ModelVersion.objects.select_related("training_run__dataset_version", "promoted_by")
    return queryset.for_name(name) if name else queryset


def model_version_get(*, name: str, version: int) -> ModelVersion | None:
    return model_versions(name).filter(version=version).first()


def registry_events(name: str | None = None) -> QuerySet[RegistryEvent]:
    queryset = RegistryEvent.objects.select_related("actor", "from_version", "to_version")
    return queryset.filter(model_name=name) if name else queryset


def version_events(version: ModelVersion) -> QuerySet[RegistryEvent]:
    """Every event that involved `version`, as the target or as the production it replaced."""
    return registry_events().for_version(version)


def was_in_production(version: ModelVersion) -> bool:
    return RegistryEvent.objects.production_changes().filter(to_version=version).exists()


def previous_production(*, name: str, current: ModelVersion | None) -> ModelVersion | None:
    """The most recent earlier promote/rollback target that is not the current production."""
    events = RegistryEvent.objects.production_changes().filter(model_name=name).select_related("to_version")
    for event in events.order_by("-created_at", "-id"):
        if event.to_version is not None and (current is None or event.to_version_id != current.pk):
            return event.to_version
    return None


def gate_scores(version: ModelVersion, dataset: str, model: str = "candidate") -> dict | None:
    """Scores from the version's gate evaluation: `dataset` is "test" or "golden"."""
    return ((version.evaluation or {}).get(dataset) or {}).get(model)


def gate_primary_metric(version: ModelVersion, dataset: str = "test") -> float | None:
    """The version's primary metric as the gate measured it (falls back to its training metrics)."""
    scores = gate_scores(version, dataset)
    metric = settings.CREATIVEOPS["PRIMARY_METRIC"]
    if scores and scores.get(metric) is not None:
        return scores[metric]
    return version.primary_metric if dataset == "test" else None


def gate_change_against_production(version: ModelVersion) -> tuple[float, int] | None:
    """(candidate − production) on the primary metric, same test rows, and the production version number."""
    evaluation = version.evaluation or {}
    candidate, production = gate_scores(version, "test"), gate_scores(version, "test", "production")
    metric = settings.CREATIVEOPS["PRIMARY_METRIC"]
    if not candidate or not production or evaluation.get("production_version") is None:
        return None
    if candidate.get(metric) is None or production.get(metric) is None:
        return None
    return candidate[metric] - production[metric], evaluation["production_version"]


def primary_metric_history(name: str) -> dict:
    """Per version (ascending): the primary metric on the golden set (same rows for every version,
    so the line is comparable across versions) and on its own dataset's test split."""
    versions = list(ModelVersion.objects.for_name(name).order_by("version"))
    return {
        "versions": [version.version for version in versions],
        "golden": [gate_primary_metric(version, "golden") for version in versions],
        "test": [gate_primary_metric(version, "test") for version in versions],
    }


COMPARISON_METRICS = (
    "rouge_l",
    "fact_fidelity",
    "lint_pass_rate",
    "limit_compliance",
    "distinct_2",
    "latency_ms_mean",
    "loss",
    "perplexity",
)
LOWER_IS_BETTER = {"latency_ms_mean", "loss", "perplexity"}


def version_comparison(version: ModelVersion) -> dict:
    """The gate's side-by-side view: both models' metrics on both sets, and their sample outputs.

    The production side is the version that was in production when `version` was evaluated (both
    were scored on the same rows then); `production_now` says whether production has moved since.
    """
    evaluation = version.evaluation or {}
    compared_number = evaluation.get("production_version")
    current = production_version(version.name)
    rows = []
    for metric in (*COMPARISON_METRICS, *_channel_metric_names(version)):
        cells = []
        for dataset in ("test", "golden"):
            mine = (gate_scores(version, dataset) or {}).get(metric)
            theirs = (gate_scores(version, dataset, "production") or {}).get(metric)
            delta = mine - theirs if mine is not None and theirs is not None else None
            better = None if delta is None or delta == 0 else (delta < 0) == (metric in LOWER_IS_BETTER)
            cells.append(
                {
                    "candidate": _number(mine, metric),
                    "production": _number(theirs, metric),
                    "delta": None if delta is None else _number(delta, metric, signed=True),
                    "better": better,
                }
            )
        if any(cell["candidate"] is not None or cell["production"] is not None for cell in cells):
            primary = metric == settings.CREATIVEOPS["PRIMARY_METRIC"]
            rows.append({"metric": metric, "primary": primary, "cells": cells})
    return {
        "compared_with": compared_number,
        "production_now": current,
        "production_moved": current is not None
        and current.pk != version.pk
        and current.version != compared_number,
        "rows": rows,
        "sets": {
            dataset: {key: (evaluation.get(dataset) or {}).get(key) for key in ("products", "rows")}
            for dataset in ("test", "golden")
        },
        "rules": evaluation.get("rules") or {},
        "changes": _primary_changes(evaluation),
        "ood": version_ood_comparison(version),
        "sample_outputs": evaluation.get("sample_outputs") or [],
        "production_unavailable": evaluation.get("production_unavailable"),
        "seconds": evaluation.get("seconds"),
    }


OOD_COMPARISON_METRICS = OOD_METRICS
OOD_LOWER_IS_BETTER = {"foreign_brand_rate", "foreign_noun_rate", "foreign_feature_rate"}


def _primary_changes(evaluation: dict) -> list[dict]:
    """Per set scored in pairs: the primary metric's change with its bootstrap interval, and the
    change per category (where the candidate wins and loses), as the model version page shows them."""
    metric = evaluation.get("primary_metric") or settings.CREATIVEOPS["PRIMARY_METRIC"]
    changes = []
    for dataset, label in (("test", "test split of its dataset"), ("golden", "golden set")):
        scored = evaluation.get(dataset) or {}
        interval = scored.get("interval")
        if not interval:
            continue
        changes.append(
            {
                "dataset": label,
                "metric": metric,
                "delta": _number(interval["delta"], metric, signed=True),
                "low": _number(interval["low"], metric, signed=True),
                "high": _number(interval["high"], metric, signed=True),
                "confidence": f"{interval['confidence']:.0%}",
                "items": interval["items"],
                "clears_zero": interval["low"] > 0 or interval["high"] < 0,
                "categories": [
                    {
                        "category": row["category"],
                        "items": row["items"],
                        "candidate": _number(row["candidate"], metric),
                        "production": _number(row["production"], metric),
                        "delta": _number(row["delta"], metric, signed=True),
                        "better": None if not row["delta"] else row["delta"] > 0,
                    }
                    for row in scored.get("breakdown") or []
                ],
            }
        )
    return changes


def version_ood_comparison(version: ModelVersion) -> dict:
    """Both models on the out-of-distribution set (real-world products, never trained on): the facts
    each creative names, and the creatives that named a foreign brand (the gate rejects any)."""
    scores = (version.evaluation or {}).get("ood") or {}
    mine, theirs = scores.get("candidate") or {}, scores.get("production") or {}
    rows = []
    for metric in OOD_COMPARISON_METRICS:
        candidate, production = mine.get(metric), theirs.get(metric)
        if candidate is None and production is None:
            continue
        delta = candidate - production if candidate is not None and production is not None else None
        better = None if not delta else (delta < 0) == (metric in OOD_LOWER_IS_BETTER)
        rows.append(
            {
                "metric": metric,
                "candidate": _number(candidate, metric),
                "production": _number(production, metric),
                "delta": None if delta is None else _number(delta, metric, signed=True),
                "better": better,
            }
        )
    return {
        "rows": rows,
        "products": scores.get("products"),
        "items": mine.get("items"),
        "foreign_brand_examples": mine.get("foreign_brand_examples") or [],
    }


def _channel_metric_names(version: ModelVersion) -> list[str]:
    """The per-channel metrics the gate stored ("google_search_rouge_l"), channel by channel."""
    stored = set()
    for dataset in ("test", "golden"):
        for side in ("candidate", "production"):
            stored |= set(gate_scores(version, dataset, side) or {})
    return [
        f"{channel}_{metric}"
        for channel in CHANNELS
        for metric in CHANNEL_METRICS
        if metric != "items" and f"{channel}_{metric}" in stored
    ]


def _number(value: float | None, metric: str, *, signed: bool = False) -> str | None:
    if value is None:
        return None
    digits = 1 if metric in ("latency_ms_mean", "perplexity") else 3
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
