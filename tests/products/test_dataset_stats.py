"""The drift-baseline helpers: bucket edges, shares and quantiles, shared with the drift check."""

from __future__ import annotations

import math

import pyarrow as pa
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


def test_word_counts_are_lower_cased_runs_of_two_letters_or_more():
    counts = dataset_stats.word_counts(["2-Person Tent, Chef's KNIFE", None, "tent à Ürün 5W"])

    assert counts == {"person": 1, "tent": 2, "chef": 1, "knife": 1, "ürün": 1}
    assert dataset_stats.word_counts([]) == {} and dataset_stats.word_counts(["7 - 8"]) == {}


def test_most_frequent_keeps_the_limit_most_frequent_in_label_order():
    counts = {"b": 5, "a": 5, "c": 9, "d": 1}

    assert dataset_stats.most_frequent(counts, 3) == ["a", "b", "c"]
    assert dataset_stats.brands_summary(counts) == {"names": ["a", "b", "c", "d"], "distinct": 4}


def test_vocabulary_summary_samples_evenly_and_caps_the_words(monkeypatch):
    monkeypatch.setattr(dataset_stats, "VOCABULARY_SAMPLE_PRODUCTS", 2)
    monkeypatch.setattr(dataset_stats, "VOCABULARY_MAX_WORDS", 3)
    titles = pa.chunked_array([["alpha one", "beta", "gamma one"]])
    descriptions = pa.chunked_array([["one two", "skipped", "two two"]])

    summary = dataset_stats.vocabulary_summary(titles, descriptions)

    # rows 0 and 2 are sampled: one x3, two x3, alpha, gamma; the third word is the first of the ties
    assert summary == {"words": ["alpha", "one", "two"], "distinct": 4, "sampled_products": 2}
