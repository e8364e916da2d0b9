"""Scoring a generator on a held-out split, and the copy-the-title baseline it must beat."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable

import pandas as pd

from training.ml.data import encode_rows, prepare_frame, split_rows, stable_order_key
from training.ml.formatting import creative_text, source_text
from training.ml.generator import CreativeGenerator
from training.ml.metrics import distinct_n, fact_fidelity, mean_rouge_l
from training.ml.modeling import mean_target_loss, perplexity

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
) -> dict:
    """ROUGE-L F1, fact fidelity and distinct-2 of creatives against their rows' references."""
    outputs = [creative_text(creative) for creative in creatives]
    references = [creative_text(row) for row in rows]
    return {
        "rouge_l": mean_rouge_l(outputs, references),
        "fact_fidelity": fact_fidelity(
            outputs,
            [source_text(product_item(row)) for row in rows],
            [row.get("brand") for row in rows],
            known_brands,
            known_nouns,
        ),
        "distinct_2": distinct_n(outputs, 2),
        "items": len(rows),
    }


def evaluate_generator(
    generator: CreativeGenerator,
    frame: pd.DataFrame,
    *,
    split: str = "test",
    max_items: int | None = None,
    known_brands: Iterable[str] | None = None,
    known_nouns: Iterable[str] | None = None,
    batch_size: int = 128,
    max_new_tokens: int | None = None,
) -> dict:
    """Greedy creatives for the split's sample, scored; plus loss and perplexity on the same rows.

    Two models scored with the same frame, split and max_items see exactly the same rows.
    """
    rows = evaluation_rows(frame, split, max_items)
    if not rows:
        raise ValueError(f"no rows with a creative in split {split!r} to evaluate on")
    max_new_tokens = max_new_tokens or generator.default_max_new_tokens
    creatives: list[dict] = []
    started = time.perf_counter()
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        results = generator.generate(
            [product_item(row) for row in chunk],
            [row["tone"] for row in chunk],
            max_new_tokens=max_new_tokens,
        )
        creatives += [variants[0] for variants in results]
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
        **score_creatives(creatives, rows, known_brands, known_nouns),
        "latency_ms_per_item": latency_ms,
        "loss": loss,
        "perplexity": perplexity(loss),
    }


def copy_title_baseline(
    frame: pd.DataFrame,
    *,
    split: str = "test",
    max_items: int | None = None,
    known_brands: Iterable[str] | None = None,
    known_nouns: Iterable[str] | None = None,
) -> dict:
    """Metrics of the no-model baseline: headline = title, body = first sentence, cta = "Shop now"."""
    rows = evaluation_rows(frame, split, max_items)
    creatives = [
        {"headline": row["title"], "body": _first_sentence(row.get("description") or ""), "cta": "Shop now"}
        for row in rows
    ]
    return score_creatives(creatives, rows, known_brands, known_nouns)


def _first_sentence(text: str) -> str:
    return _SENTENCE_END.split(text.strip(), maxsplit=1)[0] if text.strip() else ""
