"""The drift-baseline helpers: bucket edges, shares and quantiles, shared with the drift check."""

from __future__ import annotations

import math

import pytest

from products import dataset_stats


def test_bucket_shares_put_every_value_in_one_bucket_and_the_last_is_open():
    values = [0, 9.99, 10, 24.99, 25, 999.99, 1000, 25_000, -1]

    shares = dataset_stats.bucket_shares(values, dataset_stats.PRICE_BUCKET_EDGES)

    assert len(shares) == len(dataset_stats.PRICE_BUCKET_EDGES) - 1
    assert shares == pytest.approx([3 / 9, 2 / 9, 1 / 9, 0, 0, 0, 1 / 9, 2 / 9], abs=1e-6)
    assert sum(shares) == pytest.approx(1, abs=1e-5)  # shares are rounded to 6 decimals


def test_buckets_store_infinity_as_none():
    buckets = dataset_stats.buckets([5, 50], (0, 10, math.inf))

    assert buckets == [{"lower": 0, "upper": 10, "share": 0.5}, {"lower": 10, "upper": None, "share": 0.5}]


def test_empty_inputs_give_zero_shares_and_no_nan():
    assert dataset_stats.bucket_shares([], (0, 1, math.inf)) == [0.0, 0.0]
    assert dataset_stats.quantiles([]) == {"p5": None, "p25": None, "p50": None, "p75": None, "p95": None}
    assert dataset_stats.length_summary([], dataset_stats.TITLE_LENGTH_EDGES)["mean"] is None
    assert dataset_stats.shares([]) == {}


def test_quantiles_lengths_and_shares():
    assert dataset_stats.quantiles(range(101)) == {
        "p5": 5.0,
        "p25": 25.0,
        "p50": 50.0,
        "p75": 75.0,
        "p95": 95.0,
    }
    lengths = dataset_stats.text_lengths(["abc", "", None, "abcdef"])
    assert list(lengths) == [3.0, 6.0]
    summary = dataset_stats.length_summary(lengths, (0, 5, math.inf))
    assert (summary["mean"], summary["p50"]) == (4.5, 4.5)
    assert dataset_stats.shares(["b", "a", "b", None, ""]) == {"a": 0.333333, "b": 0.666667}
