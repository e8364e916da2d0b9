"""Summary statistics of a dataset version: the drift baseline.

Plain numpy and pyarrow, no Django, so the drift check (inference) computes the live side with the
very same bucket edges and quantile definition as the baseline stored on each DatasetVersion, and the
novelty check of the predict endpoints splits words exactly as the baseline's vocabulary was split. Shares are
fractions that sum to 1 over their buckets; an empty input gives zero shares, never NaN (the
statistics are stored as JSON, which has no NaN).

Shape of `DatasetVersion.statistics` (schema 1)::

    {
      "schema": 1,
      "rows": 8000, "products": 2000, "creatives": 8000,
      "category_shares": {"kitchen": 0.125, ...},          # per product
      "brand_count": 40,
      "price": {"mean", "min", "max", "quantiles": {"p5", "p25", "p50", "p75", "p95"},
                "buckets": [{"lower": 0, "upper": 10, "share": 0.1}, ...,
                            {"lower": 1000, "upper": None, "share": 0.01}]},
      "rating": {"mean", "quantiles": {...}},
      "title_length" / "description_length" (per product), "headline_length" (per creative):
                {"mean", "p50", "p95", "buckets": [...]},
      "tone_shares": {"bold": 0.25, ...},                   # per creative row
      "channel_counts": {"generic": 8000, "google_search": 8000, "meta_feed": 8000},  # creative rows
      "split_counts": {"train": 1600, "validation": 200, "test": 200},   # products
      # Since schema 2 (versions cut before lack them: a novelty check then says "not checked"):
      "brands": {"names": ["Brightwave", ...], "distinct": 66},    # up to BRANDS_MAX, most frequent
      "vocabulary": {"words": ["about", ...], "distinct": 919, "sampled_products": 2000},
    }

`vocabulary` holds the lower-cased words (runs of two or more letters: digits and punctuation split
words, so "2-Person" gives "person") of the titles and descriptions of up to VOCABULARY_SAMPLE_PRODUCTS
products spread evenly over the version, at most VOCABULARY_MAX_WORDS of them, the most frequent
first; both lists are stored sorted. The caps keep the JSON of a 100,000-product catalog small and its
snapshot fast; a word that is rarer than the cap is, fairly, "unlike the training data".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

STATISTICS_SCHEMA = 2
INF = math.inf

PRICE_BUCKET_EDGES: tuple[float, ...] = (0, 10, 25, 50, 100, 250, 500, 1000, INF)
TITLE_LENGTH_EDGES: tuple[float, ...] = (0, 20, 40, 60, 80, 100, 150, INF)
DESCRIPTION_LENGTH_EDGES: tuple[float, ...] = (0, 100, 200, 300, 500, 1000, 2000, INF)
HEADLINE_LENGTH_EDGES: tuple[float, ...] = (0, 20, 40, 60, 80, 100, 150, INF)
BRANDS_MAX = 5_000
VOCABULARY_MAX_WORDS = 10_000
VOCABULARY_SAMPLE_PRODUCTS = 20_000
WORD_MIN_LETTERS = 2
_NON_LETTERS = r"[^\pL]+"
QUANTILES: tuple[tuple[str, float], ...] = (("p5", 5), ("p25", 25), ("p50", 50), ("p75", 75), ("p95", 95))


def _finite(value: float) -> float | None:
    return None if math.isinf(value) else value


def bucket_shares(values: Sequence[float] | np.ndarray, edges: Sequence[float]) -> list[float]:
    """Share of values in each [edges[i], edges[i+1]) bucket; values below the first edge count in the
    first bucket and the last bucket is open ended, so every value lands somewhere."""
    array = np.asarray(values, dtype="float64")
    if array.size == 0:
        return [0.0] * (len(edges) - 1)
    inner_edges = np.asarray(edges[1:-1], dtype="float64")
    indexes = np.searchsorted(inner_edges, array, side="right")
    counts = np.bincount(indexes, minlength=len(edges) - 1)
    return [round(float(count) / array.size, 6) for count in counts]


def buckets(values: Sequence[float] | np.ndarray, edges: Sequence[float]) -> list[dict]:
    shares = bucket_shares(values, edges)
    return [
        {"lower": _finite(edges[index]), "upper": _finite(edges[index + 1]), "share": share}
        for index, share in enumerate(shares)
    ]


def quantiles(values: Sequence[float] | np.ndarray) -> dict[str, float | None]:
    array = np.asarray(values, dtype="float64")
    if array.size == 0:
        return {name: None for name, _ in QUANTILES}
    points = np.percentile(array, [q for _, q in QUANTILES])
    return {name: round(float(point), 4) for (name, _), point in zip(QUANTILES, points, strict=True)}


def _mean(array: np.ndarray) -> float | None:
    return round(float(array.mean()), 4) if array.size else None


def numeric_summary(values: Sequence[float] | np.ndarray, edges: Sequence[float] | None = None) -> dict:
    array = np.asarray(values, dtype="float64")
    summary = {
        "mean": _mean(array),
        "min": round(float(array.min()), 4) if array.size else None,
        "max": round(float(array.max()), 4) if array.size else None,
        "quantiles": quantiles(array),
    }
    if edges is not None:
        summary["buckets"] = buckets(array, edges)
    return summary


def text_lengths(texts: Iterable[str | None]) -> np.ndarray:
    """Character lengths of the non-empty texts (what `length_summary` takes)."""
    return np.fromiter((len(text) for text in texts if text), dtype="float64")


def length_summary(lengths: Sequence[float] | np.ndarray, edges: Sequence[float]) -> dict:
    """Mean, p50, p95 of text lengths and the shares per length bucket."""
    array = np.asarray(lengths, dtype="float64")
    return {
        "mean": _mean(array),
        "p50": round(float(np.percentile(array, 50)), 4) if array.size else None,
        "p95": round(float(np.percentile(array, 95)), 4) if array.size else None,
        "buckets": buckets(array, edges),
    }


def shares(labels: Iterable[str | None]) -> dict[str, float]:
    """Share of each distinct non-empty label, sorted by label so two versions compare key by key."""
    counts: dict[str, int] = {}
    for label in labels:
        if label:
            counts[label] = counts.get(label, 0) + 1
    return shares_from_counts(counts)


def shares_from_counts(counts: dict[str, int]) -> dict[str, float]:
    total = sum(counts.values())
    return {label: round(counts[label] / total, 6) for label in sorted(counts)} if total else {}


def word_counts(texts: pa.Array | pa.ChunkedArray | Sequence[str | None]) -> dict[str, int]:
    """How often each word occurs in `texts`: lower-cased runs of at least WORD_MIN_LETTERS letters.

    One definition (`_split_words`, Arrow's RE2) for the dataset's vocabulary and for a request's
    words (`words_per_text`), so a word the training data holds is always recognised in a request.
    """
    tokens = pc.list_flatten(_split_words(texts))
    tokens = tokens.filter(pc.greater_equal(pc.utf8_length(tokens), WORD_MIN_LETTERS))
    if len(tokens) == 0:
        return {}
    return {item["values"]: item["counts"] for item in pc.value_counts(tokens).to_pylist()}


def words_per_text(texts: Sequence[str | None]) -> list[frozenset[str]]:
    """The distinct words (as `word_counts` counts them) of each text; None gives no words."""
    return [
        frozenset(word for word in words or () if len(word) >= WORD_MIN_LETTERS)
        for words in _split_words(texts).to_pylist()
    ]


def _split_words(texts: pa.Array | pa.ChunkedArray | Sequence[str | None]) -> pa.Array | pa.ChunkedArray:
    array = texts if isinstance(texts, pa.Array | pa.ChunkedArray) else pa.array(list(texts), pa.string())
    return pc.split_pattern_regex(pc.utf8_lower(array), pattern=_NON_LETTERS)


def most_frequent(counts: dict[str, int], limit: int) -> list[str]:
    """The `limit` most frequent labels (ties by label), returned in label order."""
    ranked = sorted(counts, key=lambda label: (-counts[label], label))[:limit]
    return sorted(ranked)


def brands_summary(counts: dict[str, int]) -> dict:
    return {"names": most_frequent(counts, BRANDS_MAX), "distinct": len(counts)}


def vocabulary_summary(titles: pa.ChunkedArray, descriptions: pa.ChunkedArray) -> dict:
    """The `vocabulary` statistic of products whose titles and descriptions are given row by row (in
    sku order, so the sample of a large version is the same however the rows were read)."""
    rows = len(titles)
    step = max(1, math.ceil(rows / VOCABULARY_SAMPLE_PRODUCTS))
    sample = pa.array(np.arange(0, rows, step, dtype="int64"))
    texts = pa.chunked_array([*titles.take(sample).chunks, *descriptions.take(sample).chunks], pa.string())
    counts = word_counts(texts)
    return {
        "words": most_frequent(counts, VOCABULARY_MAX_WORDS),
        "distinct": len(counts),
        "sampled_products": len(sample),
    }


# Reading stored statistics back (the drift check compares live inputs with them).


def _format_edge(value: float) -> str:
    return f"{value:g}"


def bucket_labels(edges: Sequence[float]) -> list[str]:
    """'0–10', '10–25', …, '1000+': bucket i holds [edges[i], edges[i+1]), the last one is open."""
    labels = []
    for lower, upper in zip(edges[:-1], edges[1:], strict=True):
        labels.append(
            f"{_format_edge(lower)}+" if math.isinf(upper) else f"{_format_edge(lower)}–{_format_edge(upper)}"
        )
    return labels


def bucket_share_map(values: Sequence[float] | np.ndarray, edges: Sequence[float]) -> dict[str, float]:
    """Shares of `values` per bucket label."""
    return dict(zip(bucket_labels(edges), bucket_shares(values, edges), strict=True))


def edges_from_buckets(buckets: Sequence[Mapping]) -> tuple[float, ...]:
    """The edges a stored bucket list was cut with (`None` stands for infinity in JSON)."""
    if not buckets:
        return ()
    lowers = [-math.inf if bucket["lower"] is None else float(bucket["lower"]) for bucket in buckets]
    last_upper = buckets[-1]["upper"]
    return (*lowers, math.inf if last_upper is None else float(last_upper))


def values_from_counts(counts: Mapping[float, int]) -> np.ndarray:
    """One value per observation from `{value: count}` (what a GROUP BY gives) for the stats helpers."""
    if not counts:
        return np.empty(0, dtype="float64")
    values = np.fromiter((float(value) for value in counts), dtype="float64", count=len(counts))
    repeats = np.fromiter((int(count) for count in counts.values()), dtype="int64", count=len(counts))
    return np.repeat(values, repeats)


def summary_of(statistics: Mapping | None) -> dict:
    """mean / p50 / p95 from either stored shape (`numeric_summary` nests the quantiles)."""
    statistics = statistics or {}
    quantiles = statistics.get("quantiles") or statistics
    return {"mean": statistics.get("mean"), "p50": quantiles.get("p50"), "p95": quantiles.get("p95")}
