"""The evaluation gate: champion (production) and challenger (candidate) scored on the same rows.

Both models are loaded from their verified artifacts and score the same rows: one tone of every
product of the candidate dataset's test split and of the golden set (never trained on), and one tone
of every product of the out-of-distribution set (real-world products, brands and kinds the generator
never writes; never trained on). The rules are plain functions of the score dictionaries
(`gate_rules_apply`), so they can be tested with hand-made numbers; `evaluate_candidate` only
produces the scores and the side-by-side sample outputs.

A difference of means on a few hundred items is partly the items drawn. Each item's primary metric is
kept for both models, and the change is reported with a paired bootstrap interval
(`training.ml.metrics.paired_bootstrap_interval`): with `GATE_REQUIRE_SIGNIFICANT` (the default) a
candidate passes only when the interval's lower end clears the minimum improvement, so a gain the
items could have produced by chance is a rejection that says so. The interval is also broken down by
category (where the candidate wins and loses).

On the out-of-distribution set the rule is absolute, not a comparison: a candidate that names a
foreign brand in any creative (`foreign_brand_rate` above 0) is rejected, the first model too.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
from django.conf import settings

from products.generator import VOCABULARY
from registry.models import ModelVersion

GATE_SAMPLE_PRODUCTS = None  # products per evaluation set: all of them (one tone each)
OOD_GATE_ROWS = 512  # one tone of every product of the out-of-distribution set (253 today)
SAMPLE_OUTPUT_PRODUCTS = 5  # products shown side by side in the console
DATASETS = ("test", "golden")
OOD = "ood"  # the out-of-distribution set: scored on facts (no reference copy), see OOD_METRICS
CANDIDATE, REJECTED = ModelVersion.Status.CANDIDATE.value, ModelVersion.Status.REJECTED.value
LATENCY_KEYS = ("latency_ms_mean", "latency_ms_per_item")
# transformers' from_pretrained patches process-wide torch state while it builds a model, so two
# loads in threads of one process can corrupt each other ("Cannot copy out of meta tensor").
_LOAD_LOCK = threading.Lock()
FIDELITY = "fact_fidelity"
COMPLIANCE = "limit_compliance"  # share of creatives within their channel's limits (must be 1.0)


@dataclass(frozen=True)
class GateThresholds:
    min_improvement_abs: float
    min_improvement_rel: float
    fidelity_tolerance: float
    max_latency_ratio: float
    primary_metric: str = "rouge_l"
    require_significant: bool = False  # from settings: on by default (GATE_REQUIRE_SIGNIFICANT)

    @classmethod
    def from_settings(cls) -> GateThresholds:
        config = settings.CREATIVEOPS
        return cls(
            min_improvement_abs=config["GATE_MIN_IMPROVEMENT_ABS"],
            min_improvement_rel=config["GATE_MIN_IMPROVEMENT_REL"],
            fidelity_tolerance=config["GATE_FIDELITY_TOLERANCE"],
            max_latency_ratio=config["GATE_MAX_LATENCY_RATIO"],
            primary_metric=config["PRIMARY_METRIC"],
            require_significant=config.get("GATE_REQUIRE_SIGNIFICANT", True),
        )

    def required_improvement(self, production_value: float) -> float:
        return max(self.min_improvement_abs, self.min_improvement_rel * abs(production_value))


@dataclass
class GateDecision:
    status: str  # "candidate" or "rejected"
    reason: str
    evaluation: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == CANDIDATE


@dataclass(frozen=True)
class RuleOutcome:
    name: str
    passed: bool
    text: str
    candidate: float | None = None
    production: float | None = None
    delta: float | None = None
    limit: float | None = None


def latency_of(scores: dict | None) -> float | None:
    for key in LATENCY_KEYS:
        if scores and scores.get(key) is not None:
            return float(scores[key])
    return None


# --- Rules: plain numbers in, decision and words out ------------------------------------------------


def gate_rules_apply(
    *, scores: dict[str, dict], thresholds: GateThresholds, production_label: str | None = None
) -> tuple[str, str, dict]:
    """(status, reason, rules) from `scores` = {"test": {"candidate": {...}, "production": {...}}, ...}.

    `production` is None in each set when there is no production model (the first version): the
    candidate then passes, with its own scores in the reason. Sets without candidate scores are
    skipped (a dataset whose test split is empty).
    """
    ood = scores.get(OOD) or {}
    sets = {name: pair for name, pair in scores.items() if name != OOD and pair and pair.get("candidate")}
    if not sets:
        raise ValueError("no evaluation set has candidate scores")
    ood_outcome = _foreign_brand_rule(ood["candidate"]) if ood.get("candidate") else None
    # Rules on the candidate alone, whether or not there is a production model to compare with.
    absolute = [ood_outcome] if ood_outcome is not None else []
    absolute += [
        _compliance_rule(name, pair["candidate"])
        for name, pair in sets.items()
        if pair["candidate"].get(COMPLIANCE) is not None
    ]
    if all(pair.get("production") is None for pair in sets.values()):
        reason = _first_model_reason(sets, thresholds, production_label)
        if not absolute:
            return CANDIDATE, reason, {}
        rules = {outcome.name: asdict(outcome) for outcome in absolute}
        texts = "; ".join(outcome.text for outcome in absolute)
        failed = [outcome.name for outcome in absolute if not outcome.passed]
        if not failed:
            return CANDIDATE, f"{reason.removesuffix(' → candidate')}; {texts} → candidate", rules
        return (
            REJECTED,
            f"{reason.removesuffix(' → candidate')}; {texts} → rejected (failed: {', '.join(failed)})",
            rules,
        )
    outcomes: list[RuleOutcome] = []
    for name, pair in sets.items():
        outcomes.append(_primary_rule(name, pair, thresholds))
        if thresholds.require_significant and pair.get("interval") and pair.get("production"):
            outcomes.append(_significance_rule(name, pair, thresholds))
        outcomes.append(_fidelity_rule(name, pair, thresholds))
    outcomes.append(_latency_rule(sets, thresholds))
    outcomes += absolute
    failed = [outcome.name for outcome in outcomes if not outcome.passed]
    status = REJECTED if failed else CANDIDATE
    verdict = f"→ rejected (failed: {', '.join(failed)})" if failed else "→ candidate"
    reason = "; ".join(outcome.text for outcome in outcomes) + " " + verdict
    return status, reason, {outcome.name: asdict(outcome) for outcome in outcomes}


def _primary_rule(dataset: str, pair: dict, thresholds: GateThresholds) -> RuleOutcome:
    metric = thresholds.primary_metric
    candidate, production = float(pair["candidate"][metric]), float(pair["production"][metric])
    delta, required = candidate - production, thresholds.required_improvement(production)
    passed = delta >= required - 1e-12
    sign = "≥" if passed else "<"
    text = (
        f"{metric} {candidate:.3f} vs production {production:.3f} on {dataset} "
        f"({delta:+.3f} {sign} {required:.3f})"
    )
    return RuleOutcome(f"{metric} on {dataset}", passed, text, candidate, production, delta, required)


def _significance_rule(dataset: str, pair: dict, thresholds: GateThresholds) -> RuleOutcome:
    """The interval of the primary metric's change must lie above the minimum improvement."""
    metric, interval = thresholds.primary_metric, pair["interval"]
    required = thresholds.required_improvement(float(pair["production"][metric]))
    low, high = float(interval["low"]), float(interval["high"])
    passed = low >= required - 1e-12
    described = (
        f"{metric} {interval['delta']:+.3f}, {interval['confidence']:.0%} CI {low:+.3f} … {high:+.3f} "
        f"on {interval['items']} {dataset} items"
    )
    if passed:
        text = f"{described} (lower end ≥ {required:+.3f})"
    else:
        text = f"{described}: the lower end is below {required:+.3f}, so the change may be noise"
    # delta: the interval's lower end, the figure held against the limit
    return RuleOutcome(f"{metric} interval on {dataset}", passed, text, None, None, low, required)


def paired_comparison(candidate_items: list[dict], production_items: list[dict], metric: str) -> dict:
    """The bootstrap interval of `metric`'s change over the items both models scored, and the change
    per category: {"interval": {...}, "breakdown": [{category, items, candidate, production, delta}]}."""
    from training.ml.metrics import paired_bootstrap_interval

    production_by_key = {_item_key(item): item for item in production_items}
    pairs = [
        (item, production_by_key[_item_key(item)])
        for item in candidate_items
        if _item_key(item) in production_by_key
    ]
    if not pairs:
        return {}
    interval = paired_bootstrap_interval(
        [mine[metric] for mine, _ in pairs], [theirs[metric] for _, theirs in pairs]
    )
    by_category: dict[str, list[tuple[float, float]]] = {}
    for mine, theirs in pairs:
        by_category.setdefault(mine.get("category") or "—", []).append((mine[metric], theirs[metric]))
    breakdown = [
        {
            "category": category,
            "items": len(values),
            "candidate": sum(value for value, _ in values) / len(values),
            "production": sum(value for _, value in values) / len(values),
            "delta": sum(mine - theirs for mine, theirs in values) / len(values),
        }
        for category, values in sorted(by_category.items())
    ]
    return {"interval": interval, "breakdown": breakdown}


def _item_key(item: dict) -> tuple[str, str, str]:
    return item["sku"], item["tone"], item.get("channel") or "generic"


def _fidelity_rule(dataset: str, pair: dict, thresholds: GateThresholds) -> RuleOutcome:
    candidate, production = float(pair["candidate"][FIDELITY]), float(pair["production"][FIDELITY])
    delta, limit = candidate - production, -thresholds.fidelity_tolerance
    passed = delta >= limit - 1e-12
    sign = "≥" if passed else "<"
    text = f"fidelity {candidate:.2f} vs {production:.2f} on {dataset} ({delta:+.3f} {sign} {limit:.3f})"
    return RuleOutcome(f"fidelity on {dataset}", passed, text, candidate, production, delta, limit)


def _compliance_rule(dataset: str, candidate: dict) -> RuleOutcome:
    """Every creative within its channel's limits: decoding guarantees it, so anything less is a bug
    in the candidate's artifact or decoding, never a trade-off."""
    rate = float(candidate[COMPLIANCE])
    passed = rate >= 1.0
    text = f"within channel limits {rate:.1%} of {dataset} creatives ({'=' if passed else '<'} 100%)"
    return RuleOutcome(f"channel limits on {dataset}", passed, text, rate, None, None, 1.0)


def _foreign_brand_rule(candidate: dict) -> RuleOutcome:
    """No creative of the out-of-distribution set may name another company's brand."""
    rate = float(candidate["foreign_brand_rate"])
    passed = rate <= 0.0
    text = f"foreign brands in {rate:.1%} of out-of-distribution creatives ({'=' if passed else '>'} 0)"
    return RuleOutcome("foreign brands on ood", passed, text, rate, None, None, 0.0)


def _latency_rule(sets: dict[str, dict], thresholds: GateThresholds) -> RuleOutcome:
    """Mean per-item latency over the sets, candidate ÷ production (same batches, same process)."""
    candidate = [latency_of(pair["candidate"]) for pair in sets.values()]
    production = [latency_of(pair["production"]) for pair in sets.values()]
    if None in candidate or None in production:
        return RuleOutcome("latency", True, "latency not measured")
    candidate_ms, production_ms = sum(candidate) / len(candidate), sum(production) / len(production)
    ratio = candidate_ms / production_ms if production_ms > 0 else 1.0
    passed = ratio <= thresholds.max_latency_ratio + 1e-12
    sign = "≤" if passed else ">"
    text = f"latency ratio {ratio:.2f} {sign} {thresholds.max_latency_ratio:.2f}"
    limit = thresholds.max_latency_ratio
    return RuleOutcome("latency", passed, text, candidate_ms, production_ms, ratio, limit)


def _first_model_reason(sets: dict[str, dict], thresholds: GateThresholds, label: str | None) -> str:
    metric = thresholds.primary_metric
    own = ", ".join(
        f"{metric} {pair['candidate'][metric]:.3f} and fidelity {pair['candidate'][FIDELITY]:.2f} on {name}"
        for name, pair in sets.items()
    )
    why = label or "No production version yet"
    return f"{why}: nothing to compare with; {own} → candidate"


# --- Scoring both models on the same rows ------------------------------------------------------------


def stable_product_sample(
    frame: pd.DataFrame, *, split: str | None, products: int | None = GATE_SAMPLE_PRODUCTS
):
    """One row (one tone of one channel) for each product of `split` (or up to `products` of them),
    chosen by hashes.

    Products are ranked by a hash of the sku and each keeps the row with the lowest hash of
    (sku, tone, channel), so tones and channels are spread evenly, the same frame always gives the
    same rows, and a product keeps its place when others are added: successive versions are scored
    on largely the same golden rows. One row per product keeps the gate to seconds on small models.
    """
    rows = frame if split is None else frame[frame["split"] == split]
    rows = rows[rows["tone"].notna()]
    if rows.empty:
        return rows.copy()
    channels = rows["channel"].fillna("generic") if "channel" in rows.columns else ["generic"] * len(rows)
    keys = pd.Series(
        [
            # a generic row keeps the key it had before channels, so older sets sample as they did
            _hash(sku, tone) if channel == "generic" else _hash(sku, tone, channel)
            for sku, tone, channel in zip(rows["sku"], rows["tone"], channels, strict=True)
        ],
        index=rows.index,
    )
    first_tone = keys.groupby(rows["sku"]).idxmin()
    chosen = sorted(first_tone.items(), key=lambda item: _hash(item[0]))[:products]
    sample = rows.loc[[index for _sku, index in chosen]].copy()
    sample["split"] = "test"  # the golden set's rows are scored as a test split
    return sample


def _hash(*parts) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


def _score(generator, sample: pd.DataFrame, vocabulary: dict) -> tuple[dict, list[dict]]:
    """(the metrics, each row's own scores) of `generator` on `sample`."""
    from training.ml.evaluate import channel_metrics, evaluate_generator

    scores = evaluate_generator(generator, sample, split="test", **vocabulary)
    if "latency_ms_mean" not in scores and "latency_ms_per_item" in scores:
        scores["latency_ms_mean"] = scores["latency_ms_per_item"]
    metrics = {key: value for key, value in scores.items() if isinstance(value, int | float)}
    metrics.update(channel_metrics(scores))  # "google_search_rouge_l", … for the version page
    return metrics, scores.get("per_item", [])


def _score_ood(generator, frame: pd.DataFrame, vocabulary: dict) -> dict:
    from training.ml.evaluate import evaluate_out_of_distribution
    from training.ml.metrics import OOD_METRICS

    scores = evaluate_out_of_distribution(generator, frame, **vocabulary, max_items=OOD_GATE_ROWS)
    return {
        **{name: scores[name] for name in (*OOD_METRICS, "items")},
        "foreign_brand_examples": scores["foreign_brand_examples"],
    }


def _warm_up(generator, sample: pd.DataFrame) -> None:
    """One short call first, so neither model's latency includes one-off start-up costs."""
    from training.ml.evaluate import product_item

    row = sample.iloc[0].to_dict()
    generator.generate([product_item(row)], row["tone"], max_new_tokens=4)


def _sample_outputs(candidate, production, sample: pd.DataFrame) -> list[dict]:
    """The same products, one tone each, written by both models, beside the reference creative."""
    from training.ml.evaluate import evaluation_rows, product_item

    chosen, seen = [], set()
    for row in evaluation_rows(sample, "test"):
        if row["sku"] not in seen:
            seen.add(row["sku"])
            chosen.append(row)
        if len(chosen) == SAMPLE_OUTPUT_PRODUCTS:
            break
    if not chosen:
        return []
    items, tones = [product_item(row) for row in chosen], [row["tone"] for row in chosen]
    by_candidate = candidate.generate(items, tones)
    by_production = production.generate(items, tones) if production is not None else [None] * len(chosen)
    outputs = []
    for row, mine, theirs in zip(chosen, by_candidate, by_production, strict=True):
        outputs.append(
            {
                "sku": str(row["sku"]),
                "title": str(row["title"]),
                "brand": None if pd.isna(row.get("brand")) else str(row.get("brand")),
                "tone": row["tone"],
                "reference": {part: str(row[part]) for part in ("headline", "body", "cta")},
                "candidate": _creative(mine[0]),
                "production": _creative(theirs[0]) if theirs else None,
            }
        )
    return outputs


def _creative(creative: dict) -> dict:
    return {part: creative.get(part, "") for part in ("headline", "body", "cta")}


def _load(path):
    from training.ml.generator import CreativeGenerator

    with _LOAD_LOCK:
        return CreativeGenerator.load(path)


def _load_production(production: ModelVersion | None):
    """(generator, None) or (None, why it could not be used): a broken production must not block a fix."""
    from creativeops.core.errors import ApplicationError
    from training.storage import artifact_verify

    if production is None:
        return None, None
    try:
        path = artifact_verify(
            uri=production.artifact_uri,
            sha256=production.artifact_sha256,
            owner=f"{production.name} v{production.version}",
            refused="was not scored",
        )
    except ApplicationError as error:
        return None, error.message
    return _load(path), None


def evaluate_candidate(
    *,
    candidate_artifact: str | Path,
    production: ModelVersion | None,
    test_frame: pd.DataFrame,
    golden_frame: pd.DataFrame,
    ood_frame: pd.DataFrame | None = None,
    thresholds: GateThresholds | None = None,
) -> GateDecision:
    """Score candidate and production on the same test, golden and out-of-distribution rows and
    apply the rules.

    `test_frame` is the candidate's dataset version (its `test` split is used); `golden_frame` is
    the golden set; `ood_frame` the out-of-distribution set (None: not scored). The candidate's
    artifact is verified while loading (ArtifactIntegrityError).
    Runs with CREATIVEOPS["TORCH_NUM_THREADS"] intra-op threads when set: small models on a
    shared CPU score many times faster on one thread than on threads fighting for the cores.
    """
    from training.ml.train import torch_threads

    with torch_threads(settings.CREATIVEOPS.get("TORCH_NUM_THREADS") or None):
        return _evaluate(candidate_artifact, production, test_frame, golden_frame, ood_frame, thresholds)


def _evaluate(
    candidate_artifact, production, test_frame, golden_frame, ood_frame, thresholds
) -> GateDecision:

    thresholds = thresholds or GateThresholds.from_settings()
    started = time.perf_counter()
    samples = {
        "test": stable_product_sample(test_frame, split="test"),
        "golden": stable_product_sample(golden_frame, split=None),
    }
    has_ood = ood_frame is not None and not ood_frame.empty
    vocabulary = VOCABULARY.known_terms(test_frame, golden_frame, *([ood_frame] if has_ood else []))
    candidate = _load(candidate_artifact)
    champion, unavailable = _load_production(production)
    scores: dict[str, dict] = {}
    for name, sample in samples.items():
        if sample.empty:
            continue
        for generator in (candidate, champion):
            if generator is not None:
                _warm_up(generator, sample)
        candidate_scores, candidate_items = _score(candidate, sample, vocabulary)
        production_scores, production_items = _score(champion, sample, vocabulary) if champion else (None, [])
        scores[name] = {
            "candidate": candidate_scores,
            "production": production_scores,
            "products": int(sample["sku"].nunique()),
            "rows": len(sample),
            **paired_comparison(candidate_items, production_items, thresholds.primary_metric),
        }
    if not scores:
        raise ValueError("neither the test split nor the golden set has rows to evaluate on")
    if has_ood:
        scores[OOD] = {
            "candidate": _score_ood(candidate, ood_frame, vocabulary),
            "production": _score_ood(champion, ood_frame, vocabulary) if champion else None,
            "products": int(ood_frame["sku"].nunique()),
        }
    shown = samples["golden"] if not samples["golden"].empty else samples["test"]
    label = None
    if production is not None and champion is None:
        label = f"Production v{production.version} could not be scored ({unavailable})"
    status, reason, rules = gate_rules_apply(scores=scores, thresholds=thresholds, production_label=label)
    evaluation = {
        **scores,
        "rules": rules,
        "thresholds": asdict(thresholds),
        "primary_metric": thresholds.primary_metric,
        "production_version": production.version if champion is not None else None,
        "production_unavailable": unavailable,
        "decision": status,
        "sample_outputs": _sample_outputs(candidate, champion, shown),
        "seconds": round(time.perf_counter() - started, 2),
    }
    return GateDecision(status=status, reason=reason, evaluation=evaluation)
