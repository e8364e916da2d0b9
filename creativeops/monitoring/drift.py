"""Population stability index of live inputs against a dataset version's statistics: pure functions.

No Django here. The live side is bucketed with the very helpers and edges that wrote the baseline
(`products.dataset_stats`), so a bucket means the same thing on both sides of the comparison.

PSI = Σ (observed − expected) · ln(observed / expected) over the buckets of a feature, with every share
floored at `epsilon` so that a bucket empty on one side gives a large, finite term instead of an
infinite one. Rules of thumb: below 0.1 no shift, 0.1 to 0.25 a moderate shift, above 0.25 a large one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from products import dataset_stats

DEFAULT_EPSILON = 1e-4
PSI_DECIMALS = 6


@dataclass(frozen=True)
class Feature:
    """One input the drift check compares: where its baseline sits in `DatasetVersion.statistics`."""

    name: str
    label: str
    statistics_key: str
    edges: tuple[float, ...] | None = None  # None: a categorical feature compared share by share

    @property
    def categorical(self) -> bool:
        return self.edges is None


FEATURES: tuple[Feature, ...] = (
    Feature("category", "Category", "category_shares"),
    Feature("price", "Price", "price", dataset_stats.PRICE_BUCKET_EDGES),
    Feature("title_length", "Title length (characters)", "title_length", dataset_stats.TITLE_LENGTH_EDGES),
    Feature(
        "description_length",
        "Description length (characters)",
        "description_length",
        dataset_stats.DESCRIPTION_LENGTH_EDGES,
    ),
)


@dataclass(frozen=True)
class FeatureDrift:
    """The comparison of one feature: its PSI (None when it could not be computed, with the reason)."""

    name: str
    label: str
    psi: float | None
    observed_count: int
    buckets: list[dict] = field(default_factory=list)  # [{"label", "expected", "observed"}] in order
    expected_summary: dict = field(default_factory=dict)  # mean, p50, p95 (numeric features)
    observed_summary: dict = field(default_factory=dict)
    note: str = ""

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "label": self.label,
            "psi": self.psi,
            "observed_count": self.observed_count,
            "buckets": self.buckets,
            "expected_summary": self.expected_summary,
            "observed_summary": self.observed_summary,
            "note": self.note,
        }


# --------------------------------------------------------------------------------------------
# PSI
# --------------------------------------------------------------------------------------------


def population_stability_index(
    expected: Mapping[str, float], observed: Mapping[str, float], epsilon: float = DEFAULT_EPSILON
) -> float:
    """PSI over the union of the buckets of both sides; a bucket missing on one side has share 0.

    Shares are fractions (each side sums to about 1). Identical distributions give 0.
    """
    if not epsilon > 0:
        raise ValueError(f"epsilon must be positive; got {epsilon}.")
    total = 0.0
    for key in set(expected) | set(observed):
        expected_share = _share(expected.get(key, 0.0), key, "expected")
        observed_share = _share(observed.get(key, 0.0), key, "observed")
        if expected_share == observed_share:
            continue
        expected_share, observed_share = max(expected_share, epsilon), max(observed_share, epsilon)
        total += (observed_share - expected_share) * math.log(observed_share / expected_share)
    return total


def _share(value: float, key: str, side: str) -> float:
    share = float(value)
    if not math.isfinite(share) or share < 0:
        raise ValueError(f"The {side} share of {key!r} must be a finite number ≥ 0; got {value!r}.")
    return share


# --------------------------------------------------------------------------------------------
# Comparing one feature
# --------------------------------------------------------------------------------------------


def category_drift(
    feature: Feature,
    expected_shares: Mapping[str, float],
    observed_counts: Mapping[str, int],
    *,
    epsilon: float,
) -> FeatureDrift:
    """Categories by share; one never seen in training counts against an expected share of 0."""
    labelled = {key: count for key, count in observed_counts.items() if key}
    observed_count = sum(labelled.values())
    observed_shares = dataset_stats.shares_from_counts(labelled)
    if not expected_shares:
        return FeatureDrift(
            feature.name, feature.label, None, observed_count, note="The baseline has no category shares."
        )
    if not observed_shares:
        return FeatureDrift(
            feature.name, feature.label, None, 0, note="No prediction in the window had a category."
        )
    unseen = sorted(set(observed_shares) - set(expected_shares))
    # Training categories by expected share (largest first), then the ones only the traffic has.
    order = [*sorted(expected_shares, key=lambda key: (-expected_shares[key], key)), *unseen]
    buckets = [
        {
            "label": key,
            "expected": float(expected_shares.get(key, 0.0)),
            "observed": observed_shares.get(key, 0.0),
        }
        for key in order
    ]
    return FeatureDrift(
        feature.name,
        feature.label,
        round(population_stability_index(expected_shares, observed_shares, epsilon), PSI_DECIMALS),
        observed_count,
        buckets=buckets,
        note=f"Not in the training data: {', '.join(unseen)}." if unseen else "",
    )


def numeric_drift(
    feature: Feature, baseline: Mapping | None, observed_values: np.ndarray, *, epsilon: float
) -> FeatureDrift:
    """Bucket shares of a numeric input against the baseline's buckets, cut with the baseline's edges."""
    stored_buckets = (baseline or {}).get("buckets") or []
    if not stored_buckets or not any(bucket.get("share") for bucket in stored_buckets):
        return FeatureDrift(
            feature.name,
            feature.label,
            None,
            int(observed_values.size),
            note=f"The baseline has no {feature.name} buckets.",
        )
    # The baseline's own edges: identical to `feature.edges` for every version written with schema 1,
    # and still right for a version written with other edges.
    edges = dataset_stats.edges_from_buckets(stored_buckets)
    labels = dataset_stats.bucket_labels(edges)
    expected = {label: float(bucket["share"]) for label, bucket in zip(labels, stored_buckets, strict=True)}
    expected_summary = dataset_stats.summary_of(baseline)
    if observed_values.size == 0:
        return FeatureDrift(
            feature.name,
            feature.label,
            None,
            0,
            expected_summary=expected_summary,
            note=f"No prediction in the window had a {feature.name.replace('_', ' ')}.",
        )
    observed = dataset_stats.bucket_share_map(observed_values, edges)
    return FeatureDrift(
        feature.name,
        feature.label,
        round(population_stability_index(expected, observed, epsilon), PSI_DECIMALS),
        int(observed_values.size),
        buckets=[
            {"label": label, "expected": expected[label], "observed": observed[label]} for label in labels
        ],
        expected_summary=expected_summary,
        observed_summary=dataset_stats.summary_of(dataset_stats.numeric_summary(observed_values)),
        note=""
        if edges == feature.edges
        else "The baseline was bucketed with other edges; its own are used.",
    )


@dataclass(frozen=True)
class ObservedInputs:
    """The window's inputs as `{value: count}` per feature (empty category / null price left out)."""

    sample_size: int
    category: Mapping[str, int]
    price: Mapping[float, int]
    title_length: Mapping[float, int]
    description_length: Mapping[float, int]
    # Requests unlike the training data: {"any": n, "category": n, "brand": n, "vocabulary": n}.
    unseen: Mapping[str, int] = field(default_factory=dict)


def compare(
    statistics: Mapping, observed: ObservedInputs, *, epsilon: float = DEFAULT_EPSILON
) -> list[FeatureDrift]:
    """Every feature of `FEATURES` compared with the dataset version's statistics."""
    results = []
    for feature in FEATURES:
        if feature.categorical:
            results.append(
                category_drift(
                    feature, statistics.get(feature.statistics_key) or {}, observed.category, epsilon=epsilon
                )
            )
        else:
            values = dataset_stats.values_from_counts(getattr(observed, feature.name))
            results.append(
                numeric_drift(feature, statistics.get(feature.statistics_key), values, epsilon=epsilon)
            )
    return results
