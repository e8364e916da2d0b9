"""Scoring a generator on a held-out split, and the copy-the-title baseline it must beat."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable

import pandas as pd

from training.ml.channels import display_width
from training.ml.data import encode_rows, prepare_frame, split_rows, stable_order_key
from training.ml.formatting import OUTPUT_FIELDS, creative_text, fit_to_width, source_text
from training.ml.generator import CreativeGenerator
from training.ml.metrics import FactChecker, distinct_n, fact_fidelity, mean_rouge_l, rouge_l_f1
from training.ml.modeling import mean_target_loss, perplexity
from training.ml.policy_lint import lint_creative

PRIMARY_METRIC = "rouge_l"
"""The metric the registry gates on: mean ROUGE-L F1 of the greedy creative against the reference.

Higher is better (0 to 1). It rewards copy that says what the reference creative says, in its order,
without needing an exact match, so it tracks both the tone's phrasing and the product facts; it is
cheap, deterministic for a fixed sample and comparable between two models scored on the same rows,
which is how candidate and production are compared. Fact fidelity is reported beside it as a guard.
"""

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def evaluation_rows(frame: pd.DataFrame, split: str = "test", max_items: int | None = None) -> list[dict]:
    """The rows scored: a deterministic sample (by a hash of sku and tone) of the split's creatives."""
    rows = split_rows(prepare_frame(frame), split)
    rows.sort(key=lambda row: stable_order_key(row["sku"], row["tone"]))
    return rows if max_items is None else rows[:max_items]


def product_item(row: dict) -> dict:
    """The generator input for a dataset row (NaN becomes None, prices become floats)."""
    item = {}
    for name in ("title", "description", "category", "brand", "price"):
        value = row.get(name)
        item[name] = None if value is None or (isinstance(value, float) and math.isnan(value)) else value
    item["description"] = item["description"] or ""
    if item["price"] is not None:
        item["price"] = float(item["price"])
    return item


def score_creatives(
    creatives: list[dict],
    rows: list[dict],
    known_brands: Iterable[str] | None = None,
    known_nouns: Iterable[str] | None = None,
    known_features: Iterable[str] | None = None,
) -> dict:
    """ROUGE-L F1, fact fidelity and distinct-2 of creatives against their rows' references."""
    outputs = [creative_text(creative) for creative in creatives]
    references = [creative_text(row) for row in rows]
    sources = [source_text(product_item(row)) for row in rows]
    scores = [rouge_l_f1(output, reference) for output, reference in zip(outputs, references, strict=True)]
    return {
        "rouge_l": sum(scores) / len(scores) if scores else 0.0,  # mean_rouge_l, from the scores below
        # each row's own score, for paired comparisons of two models on the same rows
        "per_item": [
            {
                "sku": str(row["sku"]),
                "tone": row["tone"],
                "category": _text_or_none(row.get("category")),
                "rouge_l": score,
            }
            for row, score in zip(rows, scores, strict=True)
        ],
        "fact_fidelity": fact_fidelity(
            outputs,
            sources,
            [row.get("brand") for row in rows],
            known_brands,
            known_nouns,
            known_features,
        ),
        "distinct_2": distinct_n(outputs, 2),
        # share with no ad-policy finding (policy_lint.py: claims, capitals, "!!", foreign numbers)
        "lint_pass_rate": sum(
            not lint_creative({name: creative.get(name) or "" for name in OUTPUT_FIELDS}, source)
            for creative, source in zip(creatives, sources, strict=True)
        )
        / max(len(rows), 1),  # 0.0 without rows, as fact_fidelity
        "items": len(rows),
    }


def greedy_creatives(
    generator: CreativeGenerator,
    rows: list[dict],
    *,
    batch_size: int = 128,
    max_new_tokens: int | None = None,
    limits: dict[str, int] | None = None,
) -> list[dict]:
    """The greedy creative (variant 1) of each row's product in the row's tone, `batch_size` rows
    per call, at most `max_new_tokens` tokens (default: the model's target length)."""
    max_new_tokens = max_new_tokens or generator.default_max_new_tokens
    creatives: list[dict] = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        results = generator.generate(
            [product_item(row) for row in chunk],
            [row["tone"] for row in chunk],
            max_new_tokens=max_new_tokens,
            limits=limits,
        )
        creatives += [variants[0] for variants in results]
    return creatives


def evaluate_generator(
    generator: CreativeGenerator,
    frame: pd.DataFrame,
    *,
    split: str = "test",
    max_items: int | None = None,
    known_brands: Iterable[str] | None = None,
    known_nouns: Iterable[str] | None = None,
    known_features: Iterable[str] | None = None,
    batch_size: int = 128,
    max_new_tokens: int | None = None,
) -> dict:
    """Greedy creatives for the split's sample, scored; plus loss and perplexity on the same rows.

    Two models scored with the same frame, split and max_items see exactly the same rows.
    """
    rows = evaluation_rows(frame, split, max_items)
    if not rows:
        raise ValueError(f"no rows with a creative in split {split!r} to evaluate on")
    started = time.perf_counter()
    creatives = greedy_creatives(generator, rows, batch_size=batch_size, max_new_tokens=max_new_tokens)
    latency_ms = (time.perf_counter() - started) * 1000 / len(rows)
    encoded = encode_rows(
        generator.tokenizer,
        generator.special_ids,
        rows,
        generator.max_source_tokens,
        generator.default_max_new_tokens,
    )
    loss = mean_target_loss(generator.model, encoded, generator.special_ids.pad, batch_size, generator.device)
    return {
        **score_creatives(creatives, rows, known_brands, known_nouns, known_features),
        "latency_ms_per_item": latency_ms,
        "loss": loss,
        "perplexity": perplexity(loss),
    }


def ood_rows(
    frame: pd.DataFrame, *, tones_per_product: int | None = 1, max_items: int | None = None
) -> list[dict]:
    """The out-of-distribution rows scored: all, or `tones_per_product` tones of each product chosen
    by a hash of (sku, tone) so tones are spread evenly; the same frame gives the same rows."""
    rows = frame[frame["tone"].notna()].to_dict("records")
    rows.sort(key=lambda row: stable_order_key(row["sku"], row["tone"]))
    if tones_per_product is not None:
        taken: dict[str, int] = {}
        chosen = []
        for row in rows:
            if taken.get(row["sku"], 0) < tones_per_product:
                taken[row["sku"]] = taken.get(row["sku"], 0) + 1
                chosen.append(row)
        rows = chosen
    return rows if max_items is None else rows[:max_items]


def evaluate_out_of_distribution(
    generator: CreativeGenerator,
    frame: pd.DataFrame,
    *,
    known_brands: Iterable[str],
    known_nouns: Iterable[str] | None = None,
    known_features: Iterable[str] | None = None,
    tones_per_product: int | None = 1,
    max_items: int | None = None,
    batch_size: int = 128,
) -> dict:
    """Greedy creatives for out-of-distribution products (no reference copy), scored on their facts.

    `known_brands` should hold every brand a model could recall: the generator's vocabulary, the
    training catalog's and the set's own (`frame`'s brands are added here). See OOD_METRICS.
    """
    rows = ood_rows(frame, tones_per_product=tones_per_product, max_items=max_items)
    if not rows:
        raise ValueError("the out-of-distribution frame has no rows to evaluate on")
    brands = set(known_brands) | {str(brand) for brand in frame["brand"].dropna().unique()}
    checker = FactChecker(brands, known_nouns, known_features)
    creatives = greedy_creatives(generator, rows, batch_size=batch_size)
    counts = dict.fromkeys(
        ("foreign_brand", "own_fact", "own_noun", "number", "foreign_noun", "foreign_feature"), 0
    )
    examples = []
    for row, creative in zip(rows, creatives, strict=True):
        item, text = product_item(row), creative_text(creative)
        source, noun = source_text(item), _text_or_none(row.get("noun"))
        foreign = checker.foreign_brands(text, source, item["brand"])
        counts["foreign_brand"] += bool(foreign)
        counts["own_fact"] += checker.names_own_fact(text, item["brand"], noun)
        counts["own_noun"] += checker.names_own_fact(text, None, noun)
        counts["number"] += not checker.foreign_numbers(text, source)
        counts["foreign_noun"] += bool(checker.foreign_nouns(text, source, noun))
        counts["foreign_feature"] += bool(checker.foreign_features(text, source))
        if foreign and len(examples) < 5:
            examples.append({"sku": row["sku"], "text": text, "foreign_brands": foreign})
    total = len(rows)
    return {
        "foreign_brand_rate": counts["foreign_brand"] / total,
        "own_fact_rate": counts["own_fact"] / total,
        "own_noun_rate": counts["own_noun"] / total,
        "number_fidelity": counts["number"] / total,
        "foreign_noun_rate": counts["foreign_noun"] / total,
        "foreign_feature_rate": counts["foreign_feature"] / total,
        "distinct_2": distinct_n([creative_text(creative) for creative in creatives], 2),
        "items": total,
        "foreign_brand_examples": examples,
        "sample": [
            {
                "sku": row["sku"],
                "brand": row.get("brand"),
                "title": row["title"],
                "tone": row["tone"],
                **creative,
            }
            for row, creative in list(zip(rows, creatives, strict=True))[:5]
        ],
    }


def evaluate_within_limits(
    generator: CreativeGenerator,
    frame: pd.DataFrame,
    limits: dict[str, int],
    *,
    split: str = "test",
    max_items: int | None = None,
    batch_size: int = 128,
) -> dict:
    """The split's greedy creatives written with and without character `limits` (budget.py), on the
    same rows: how many fields the free creatives take past a limit, the compliance, ROUGE-L and
    width of the limited ones, the copy-the-title baseline cut to the same limits, and the time each
    took (the limited pass after the free one, so any warm-up favours it less)."""
    rows = evaluation_rows(frame, split, max_items)
    if not rows:
        raise ValueError(f"no rows with a creative in split {split!r} to evaluate on")

    def run(field_limits: dict[str, int] | None) -> tuple[list[dict], float]:
        started = time.perf_counter()
        creatives = greedy_creatives(generator, rows, batch_size=batch_size, limits=field_limits)
        return creatives, time.perf_counter() - started

    free, free_seconds = run(None)
    limited, limited_seconds = run(limits)
    baseline = [
        {
            "headline": fit_to_width(row["title"], limits.get("headline", 10**6)),
            "body": fit_to_width(_first_sentence(row.get("description") or ""), limits.get("body", 10**6)),
            "cta": "Shop now",
        }
        for row in rows
    ]
    references = [creative_text(row) for row in rows]

    def within(creative: dict) -> bool:
        return all(display_width(creative[name]) <= limit for name, limit in limits.items())

    return {
        "items": len(rows),
        "free_over_limit": {
            name: sum(display_width(creative[name]) > limit for creative in free) / len(rows)
            for name, limit in limits.items()
        },
        "compliance": sum(map(within, limited)) / len(rows),
        "rouge_l": mean_rouge_l([creative_text(creative) for creative in limited], references),
        "free_rouge_l": mean_rouge_l([creative_text(creative) for creative in free], references),
        "baseline_rouge_l": mean_rouge_l([creative_text(creative) for creative in baseline], references),
        "mean_width": {
            name: sum(display_width(creative[name]) for creative in limited) / len(rows) for name in limits
        },
        "empty": {name: sum(not creative[name] for creative in limited) / len(rows) for name in limits},
        "free_seconds": free_seconds,
        "limited_seconds": limited_seconds,
        "sample": [
            {"title": row["title"], **creative} for row, creative in zip(rows[:3], limited[:3], strict=True)
        ],
    }


def _text_or_none(value) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def copy_title_baseline(
    frame: pd.DataFrame,
    *,
    split: str = "test",
    max_items: int | None = None,
    known_brands: Iterable[str] | None = None,
    known_nouns: Iterable[str] | None = None,
    known_features: Iterable[str] | None = None,
) -> dict:
    """Metrics of the no-model baseline: headline = title, body = first sentence, cta = "Shop now"."""
    rows = evaluation_rows(frame, split, max_items)
    creatives = [
        {"headline": row["title"], "body": _first_sentence(row.get("description") or ""), "cta": "Shop now"}
        for row in rows
    ]
    return score_creatives(creatives, rows, known_brands, known_nouns, known_features)


def _first_sentence(text: str) -> str:
    return _SENTENCE_END.split(text.strip(), maxsplit=1)[0] if text.strip() else ""
