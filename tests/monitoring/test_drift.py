"""The pure drift functions: PSI on hand-made distributions, and buckets identical to the baseline's."""

from __future__ import annotations

import math

import numpy as np
import pytest

from creativeops.monitoring.drift import (
    FEATURES,
    ObservedInputs,
    compare,
    population_stability_index,
)
from products import dataset_stats
from products.dataset_stats import bucket_labels, bucket_share_map, edges_from_buckets, values_from_counts


def test_identical_distributions_have_psi_zero():
    shares = {"kitchen": 0.5, "garden": 0.3, "outdoor": 0.2}
    assert population_stability_index(shares, dict(shares)) == 0.0


def test_known_shift_gives_the_known_value():
    # (0.8 − 0.5)·ln(0.8/0.5) + (0.2 − 0.5)·ln(0.2/0.5) = 0.3·ln 4
    psi = population_stability_index({"a": 0.5, "b": 0.5}, {"a": 0.8, "b": 0.2})
    assert psi == pytest.approx(0.3 * math.log(4), abs=1e-12)
    assert psi == pytest.approx(0.415888, abs=1e-6)


def test_psi_is_symmetric():
    expected, observed = {"a": 0.7, "b": 0.2, "c": 0.1}, {"a": 0.4, "b": 0.4, "c": 0.2}
    assert population_stability_index(expected, observed) == pytest.approx(
        population_stability_index(observed, expected), abs=1e-12
    )


def test_a_bucket_empty_on_one_side_is_floored_at_epsilon():
    # b: 0 expected → 1e-4; (0.5 − 1)·ln(0.5) + (0.5 − 1e-4)·ln(0.5 / 1e-4)
    psi = population_stability_index({"a": 1.0}, {"a": 0.5, "b": 0.5})
    assert psi == pytest.approx(4.604318, abs=1e-6)
    assert population_stability_index({"a": 1.0}, {"a": 0.5, "b": 0.5}, epsilon=1e-2) == pytest.approx(
        0.5 * math.log(2) + 0.49 * math.log(50), abs=1e-12
    )


def test_psi_refuses_negative_shares_and_a_zero_epsilon():
    with pytest.raises(ValueError) as error:
        population_stability_index({"a": 1.0}, {"a": -0.1})
    assert str(error.value) == "The observed share of 'a' must be a finite number ≥ 0; got -0.1."
    with pytest.raises(ValueError) as error:
        population_stability_index({"a": 1.0}, {"a": 1.0}, epsilon=0)
    assert str(error.value) == "epsilon must be positive; got 0."


def test_bucket_labels_follow_the_dataset_statistics_edges():
    assert bucket_labels(dataset_stats.PRICE_BUCKET_EDGES) == [
        "0–10", "10–25", "25–50", "50–100", "100–250", "250–500", "500–1000", "1000+",
    ]  # fmt: skip
    assert [feature.edges for feature in FEATURES] == [
        None,
        dataset_stats.PRICE_BUCKET_EDGES,
        dataset_stats.TITLE_LENGTH_EDGES,
        dataset_stats.DESCRIPTION_LENGTH_EDGES,
    ]


def test_live_buckets_are_the_baselines_buckets_including_the_edges():
    prices = [0.5, 9.99, 10, 24.99, 25, 100, 999.99, 1000, 25_000]
    stored = dataset_stats.buckets(prices, dataset_stats.PRICE_BUCKET_EDGES)
    live = bucket_share_map(prices, dataset_stats.PRICE_BUCKET_EDGES)
    assert list(live.values()) == [bucket["share"] for bucket in stored]
    assert live["10–25"] == pytest.approx(2 / 9, abs=1e-6)  # 10 and 24.99: a bucket is [lower, upper)
    assert live["1000+"] == pytest.approx(2 / 9, abs=1e-6)
    assert edges_from_buckets(stored) == dataset_stats.PRICE_BUCKET_EDGES


def test_values_from_counts_expands_a_group_by():
    values = values_from_counts({3: 2, 5: 1, 40: 3})
    assert sorted(values.tolist()) == [3, 3, 5, 40, 40, 40]
    assert values_from_counts({}).size == 0


def _statistics_of(
    categories: list[str], prices: list[float], titles: list[int], descriptions: list[int]
) -> dict:
    return {
        "category_shares": dataset_stats.shares(categories),
        "price": dataset_stats.numeric_summary(prices, dataset_stats.PRICE_BUCKET_EDGES),
        "title_length": dataset_stats.length_summary(titles, dataset_stats.TITLE_LENGTH_EDGES),
        "description_length": dataset_stats.length_summary(
            descriptions, dataset_stats.DESCRIPTION_LENGTH_EDGES
        ),
    }


def _counts(values) -> dict:
    unique, counts = np.unique(np.asarray(values), return_counts=True)
    return dict(zip(unique.tolist(), counts.tolist(), strict=True))


def test_compare_gives_zero_for_the_training_distribution_and_names_unseen_categories():
    categories = ["kitchen"] * 6 + ["garden"] * 4
    prices, titles, descriptions = [12.0] * 5 + [80.0] * 5, [30] * 10, [150] * 7 + [450] * 3
    statistics = _statistics_of(categories, prices, titles, descriptions)
    same = ObservedInputs(10, _counts(categories), _counts(prices), _counts(titles), _counts(descriptions))
    results = {feature.name: feature for feature in compare(statistics, same)}
    assert {name: feature.psi for name, feature in results.items()} == {
        "category": 0.0, "price": 0.0, "title_length": 0.0, "description_length": 0.0,
    }  # fmt: skip
    assert [bucket["label"] for bucket in results["category"].buckets] == ["kitchen", "garden"]
    assert results["price"].observed_summary == {"mean": 46.0, "p50": 46.0, "p95": 80.0}

    toys = ObservedInputs(10, {"toys": 10}, _counts(prices), _counts(titles), {})
    results = {feature.name: feature for feature in compare(statistics, toys)}
    assert results["category"].note == "Not in the training data: toys."
    assert [bucket["label"] for bucket in results["category"].buckets] == ["kitchen", "garden", "toys"]
    # kitchen 0.6 → 1e-4, garden 0.4 → 1e-4, toys 1e-4 → 1.0
    expected_psi = (
        (1e-4 - 0.6) * math.log(1e-4 / 0.6)
        + (1e-4 - 0.4) * math.log(1e-4 / 0.4)
        + (1 - 1e-4) * math.log(1 / 1e-4)
    )
    assert results["category"].psi == pytest.approx(expected_psi, abs=1e-6)
    assert results["description_length"].psi is None
    assert results["description_length"].note == "No prediction in the window had a description length."


def test_a_baseline_cut_with_other_edges_is_compared_on_its_own_edges():
    baseline = dataset_stats.numeric_summary([10.0, 20.0, 60.0, 70.0], (0, 50, math.inf))
    observed = np.array([5.0, 55.0, 65.0, 75.0])

    result = compare({"price": baseline}, ObservedInputs(4, {}, _counts(observed), {}, {}))[1]

    assert [bucket["label"] for bucket in result.buckets] == ["0–50", "50+"]
    # (0.25 − 0.5)·ln(0.25/0.5) + (0.75 − 0.5)·ln(0.75/0.5) = 0.25·ln 3
    assert result.psi == pytest.approx(0.25 * math.log(3), abs=1e-6)
    assert result.note == "The baseline was bucketed with other edges; its own are used."
