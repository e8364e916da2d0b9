"""Scoring a generator on a held-out split, and the copy-the-title baseline it must beat."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable

import pandas as pd

from training.ml.channels import CHANNELS, DEFAULT_CHANNEL
from training.ml.data import encode_rows, prepare_frame, split_rows, stable_order_key
from training.ml.formatting import OUTPUT_FIELDS, creative_text, fit_to_width, source_text
from training.ml.generator import CreativeGenerator, GenerationRequest
from training.ml.metrics import (
    CHANNEL_METRICS,
    FactChecker,
    distinct_n,
    fact_fidelity,
    rouge_l_f1,
)
from training.ml.modeling import mean_target_loss, perplexity
from training.ml.policy_lint import CODES as LINT_CODES
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
    # generic rows keep the key they had before channels, so a version without channels samples as before
    rows.sort(key=lambda row: stable_order_key(row["sku"], row["tone"], *_non_generic(row)))
    return rows if max_items is None else rows[:max_items]


def _non_generic(row: dict) -> tuple[str, ...]:
    channel = row.get("channel") or DEFAULT_CHANNEL
    return () if channel == DEFAULT_CHANNEL else (channel,)


def row_channel(row: dict) -> str:
    return row.get("channel") or DEFAULT_CHANNEL


def within_limits(creative: dict, channel: str) -> bool:
    """Whether every output of `creative` keeps to `channel`'s limits (as the platform counts)."""
    limits = CHANNELS[channel].output_limits()
    return all(
        limit is None or CHANNELS[channel].width(creative.get(name) or "") <= limit
        for name, limit in limits.items()
    )


def passes_lint(creative: dict, source: str) -> bool:
    """Whether no ad-policy rule (policy_lint.py) finds anything in `creative`'s outputs, given the
    product's input text `source`."""
    return not lint_creative({name: creative.get(name) or "" for name in OUTPUT_FIELDS}, source)


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
    """ROUGE-L F1, fact fidelity, distinct-2, ad-policy pass rate and limit compliance of creatives
    against their rows' references; over all rows and per channel (`by_channel`)."""
    scores = _scores(creatives, rows, known_brands, known_nouns, known_features)
    channels = sorted({row_channel(row) for row in rows})
    if len(channels) > 1 or channels != [DEFAULT_CHANNEL]:
        scores["by_channel"] = {}
        for channel in channels:
            picked = [index for index, row in enumerate(rows) if row_channel(row) == channel]
            part = _scores(
                [creatives[index] for index in picked],
                [rows[index] for index in picked],
                known_brands,
                known_nouns,
                known_features,
            )
            part.pop("per_item")
            scores["by_channel"][channel] = part
    return scores


def _scores(creatives, rows, known_brands, known_nouns, known_features) -> dict:
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
                "channel": row_channel(row),
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
            passes_lint(creative, source) for creative, source in zip(creatives, sources, strict=True)
        )
        / max(len(rows), 1),  # 0.0 without rows, as fact_fidelity
        # share whose every output keeps to its channel's limits: 1.0 by construction (budget.py)
        "limit_compliance": sum(
            within_limits(creative, row_channel(row)) for creative, row in zip(creatives, rows, strict=True)
        )
        / max(len(rows), 1),
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
    """The greedy creative (variant 1) of each row's product in the row's tone and channel,
    `batch_size` rows per call (the rows of each channel one request of it), at most
    `max_new_tokens` tokens (default: the model's target length); `limits` replace the channels'."""
    max_new_tokens = max_new_tokens or generator.default_max_new_tokens
    creatives: list[dict] = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        channels = list(dict.fromkeys(row_channel(row) for row in chunk))
        requests = []
        for channel in channels:
            picked = [row for row in chunk if row_channel(row) == channel]
            requests.append(
                GenerationRequest(
                    [product_item(row) for row in picked],
                    [row["tone"] for row in picked],
                    max_new_tokens=max_new_tokens,
                    limits=limits,
                    channel=channel,
                )
            )
        answers = {
            channel: iter(results)
            for channel, results in zip(channels, generator.generate_many(requests), strict=True)
        }
        creatives += [next(answers[row_channel(row)])[0] for row in chunk]
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


def channel_metrics(scores: dict, prefix: str = "") -> dict[str, float]:
    """`scores["by_channel"]` as flat numbers, "google_search_rouge_l": the form MLflow and the
    gate's stored scores take."""
    return {
        f"{prefix}{channel}_{name}": part[name]
        for channel, part in (scores.get("by_channel") or {}).items()
        for name in CHANNEL_METRICS
        if name in part
    }


def evaluate_asset_sets(
    generator: CreativeGenerator,
    frame: pd.DataFrame,
    channel: str = "google_search",
    *,
    split: str = "test",
    max_products: int | None = 100,
    batch_size: int = 128,
) -> dict:
    """Asset sets (asset_sets.py) for the split's products, one creative per tone in `channel`:
    the share of complete sets, distinct model-written headlines within a set, distinct headlines
    across the catalog (all sets' headlines, after normalising), the ad-policy pass rate and the limit
    compliance of every asset. Products are taken in the order of a hash of their sku."""
    from training.ml.asset_sets import asset_findings, asset_set_build, asset_set_problems, normalise

    rows = split_rows(prepare_frame(frame), split)
    products: dict[str, dict] = {}
    for row in sorted(rows, key=lambda row: stable_order_key(row["sku"])):
        products.setdefault(str(row["sku"]), row)
    chosen = list(products.values())[:max_products]
    if not chosen:
        raise ValueError(f"no products in split {split!r} to build asset sets for")
    items = [product_item(row) for row in chosen]
    tones = list(generator.tones)
    written: list[list[dict]] = []
    for start in range(0, len(items), max(1, batch_size // len(tones))):
        part = items[start : start + max(1, batch_size // len(tones))]
        flat = [item for item in part for _tone in tones]
        results = generator.generate(flat, tones * len(part), channel=channel)
        written += [
            [results[index * len(tones) + offset][0] for offset in range(len(tones))]
            for index in range(len(part))
        ]
    definition = CHANNELS[channel]
    complete = within = lint_clean = assets = 0
    within_set: list[float] = []
    headlines: list[str] = []
    for item, creatives in zip(items, written, strict=True):
        asset_set = asset_set_build(definition, item, creatives)
        complete += not asset_set_problems(asset_set, item)
        if asset_set.written:
            within_set.append(asset_set.distinct_written / asset_set.written)
        headlines += [normalise(text) for text in asset_set.assets.get("headline", [])]
        findings = asset_findings(definition, asset_set.assets, source_text(item))
        count = sum(len(values) for values in asset_set.assets.values())
        assets += count
        within += count - len({(f["field"], f["index"]) for f in findings if f["code"] not in LINT_CODES})
        lint_clean += count - len({(f["field"], f["index"]) for f in findings if f["code"] in LINT_CODES})
    return {
        "channel": channel,
        "products": len(items),
        "completeness": complete / len(items),
        "distinct_headlines_in_set": sum(within_set) / len(within_set) if within_set else 0.0,
        "distinct_headlines_catalog": len(set(headlines)) / len(headlines) if headlines else 0.0,
        "asset_lint_pass_rate": lint_clean / assets if assets else 0.0,
        "asset_limit_compliance": within / assets if assets else 0.0,
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
    """Metrics of the no-model baseline: headline = title, body = first sentence, cta = "Shop now",
    each cut by whole words to its row's channel's limit (a title a channel cannot take is no
    baseline for it)."""
    rows = evaluation_rows(frame, split, max_items)
    creatives = [copy_title_creative(row) for row in rows]
    return score_creatives(creatives, rows, known_brands, known_nouns, known_features)


def copy_title_creative(row: dict, limits: dict[str, int | None] | None = None) -> dict:
    limits = CHANNELS[row_channel(row)].output_limits() if limits is None else limits
    texts = {
        "headline": row["title"],
        "body": _first_sentence(row.get("description") or ""),
        "cta": "Shop now",
    }
    return {
        name: text if limits.get(name) is None else fit_to_width(text, limits[name])
        for name, text in texts.items()
    }


def _first_sentence(text: str) -> str:
    return _SENTENCE_END.split(text.strip(), maxsplit=1)[0] if text.strip() else ""
