"""The gate's rules on hand-made scores: the decision and the exact reason an operator reads."""

from __future__ import annotations

import random
import re

import pytest
from pytest import approx

from registry.services.gate import GateThresholds, gate_rules_apply, paired_comparison, stable_product_sample

DEFAULT = GateThresholds(
    min_improvement_abs=0.0, min_improvement_rel=0.0, fidelity_tolerance=0.02, max_latency_ratio=1.5
)


def scores(rouge_l: float, fidelity: float, latency: float) -> dict:
    return {"rouge_l": rouge_l, "fact_fidelity": fidelity, "distinct_2": 0.6, "latency_ms_mean": latency}


def both(candidate: dict, production: dict | None) -> dict:
    return {"candidate": candidate, "production": production}


def comparison(**overrides) -> dict:
    values = {
        "test": both(scores(0.412, 0.97, 10.4), scores(0.398, 0.96, 10.0)),
        "golden": both(scores(0.405, 0.95, 10.4), scores(0.401, 0.96, 10.0)),
    }
    values.update(overrides)
    return values


def test_better_candidate_passes_with_every_rule_in_the_reason():
    status, reason, rules = gate_rules_apply(scores=comparison(), thresholds=DEFAULT)

    assert status == "candidate"
    assert reason == (
        "rouge_l 0.412 vs production 0.398 on test (+0.014 ≥ 0.000); "
        "fidelity 0.97 vs 0.96 on test (+0.010 ≥ -0.020); "
        "rouge_l 0.405 vs production 0.401 on golden (+0.004 ≥ 0.000); "
        "fidelity 0.95 vs 0.96 on golden (-0.010 ≥ -0.020); "
        "latency ratio 1.04 ≤ 1.50 → candidate"
    )
    assert set(rules) == {
        "rouge_l on test",
        "fidelity on test",
        "rouge_l on golden",
        "fidelity on golden",
        "latency",
    }
    assert all(rule["passed"] for rule in rules.values())
    assert rules["latency"]["delta"] == pytest.approx(1.04)


def test_primary_metric_falling_on_the_golden_set_rejects():
    golden = both(scores(0.390, 0.96, 10.0), scores(0.401, 0.96, 10.0))

    status, reason, rules = gate_rules_apply(scores=comparison(golden=golden), thresholds=DEFAULT)

    assert status == "rejected"
    assert "rouge_l 0.390 vs production 0.401 on golden (-0.011 < 0.000)" in reason
    assert reason.endswith("→ rejected (failed: rouge_l on golden)")
    assert rules["rouge_l on golden"]["passed"] is False
    assert rules["rouge_l on test"]["passed"] is True


def test_fidelity_regression_beyond_the_tolerance_rejects():
    test = both(scores(0.450, 0.90, 10.0), scores(0.398, 0.96, 10.0))

    status, reason, _rules = gate_rules_apply(scores=comparison(test=test), thresholds=DEFAULT)

    assert status == "rejected"
    assert "fidelity 0.90 vs 0.96 on test (-0.060 < -0.020)" in reason
    assert reason.endswith("→ rejected (failed: fidelity on test)")


def test_slower_candidate_beyond_the_latency_ratio_rejects():
    test = both(scores(0.412, 0.97, 16.0), scores(0.398, 0.96, 10.0))
    golden = both(scores(0.405, 0.95, 16.0), scores(0.401, 0.96, 10.0))

    status, reason, _rules = gate_rules_apply(scores=comparison(test=test, golden=golden), thresholds=DEFAULT)

    assert status == "rejected"
    assert reason.endswith("latency ratio 1.60 > 1.50 → rejected (failed: latency)")


def test_relative_improvement_requirement_scales_with_the_production_value():
    thresholds = GateThresholds(
        min_improvement_abs=0.005, min_improvement_rel=0.05, fidelity_tolerance=0.02, max_latency_ratio=1.5
    )
    test = both(scores(0.410, 0.96, 10.0), scores(0.400, 0.96, 10.0))
    golden = both(scores(0.430, 0.96, 10.0), scores(0.400, 0.96, 10.0))

    status, reason, rules = gate_rules_apply(scores={"test": test, "golden": golden}, thresholds=thresholds)

    # 5 % of 0.400 is 0.020, more than the absolute 0.005: +0.010 is not enough, +0.030 is.
    assert status == "rejected"
    assert "rouge_l 0.410 vs production 0.400 on test (+0.010 < 0.020)" in reason
    assert "rouge_l 0.430 vs production 0.400 on golden (+0.030 ≥ 0.020)" in reason
    assert rules["rouge_l on test"]["limit"] == pytest.approx(0.02)


def test_absolute_improvement_requirement_applies_when_larger():
    thresholds = GateThresholds(
        min_improvement_abs=0.02, min_improvement_rel=0.01, fidelity_tolerance=0.02, max_latency_ratio=1.5
    )

    status, reason, _rules = gate_rules_apply(scores=comparison(), thresholds=thresholds)

    assert status == "rejected"
    assert "(+0.014 < 0.020)" in reason
    assert reason.endswith("→ rejected (failed: rouge_l on test, rouge_l on golden)")


def test_equal_models_pass_with_the_default_zero_improvement():
    same = both(scores(0.4, 0.96, 10.0), scores(0.4, 0.96, 10.0))

    status, reason, _rules = gate_rules_apply(scores={"test": same, "golden": same}, thresholds=DEFAULT)

    assert status == "candidate"
    assert "rouge_l 0.400 vs production 0.400 on test (+0.000 ≥ 0.000)" in reason


def test_first_model_without_production_becomes_a_candidate():
    first = {
        "test": both(scores(0.412, 0.97, 10.0), None),
        "golden": both(scores(0.405, 0.95, 10.0), None),
    }

    status, reason, rules = gate_rules_apply(scores=first, thresholds=DEFAULT)

    assert status == "candidate"
    assert reason == (
        "No production version yet: nothing to compare with; rouge_l 0.412 and fidelity 0.97 on test, "
        "rouge_l 0.405 and fidelity 0.95 on golden → candidate"
    )
    assert rules == {}


def test_a_set_without_rows_is_left_out_of_the_rules():
    status, reason, rules = gate_rules_apply(
        scores={"test": {"candidate": None, "production": None}, "golden": comparison()["golden"]},
        thresholds=DEFAULT,
    )

    assert status == "candidate"
    assert "on test" not in reason
    assert set(rules) == {"rouge_l on golden", "fidelity on golden", "latency"}


def test_no_scores_at_all_is_an_error():
    with pytest.raises(ValueError, match="no evaluation set has candidate scores"):
        gate_rules_apply(scores={}, thresholds=DEFAULT)


def test_thresholds_come_from_settings(settings):
    settings.CREATIVEOPS = {
        **settings.CREATIVEOPS,
        "GATE_MIN_IMPROVEMENT_ABS": 0.01,
        "GATE_MIN_IMPROVEMENT_REL": 0.02,
        "GATE_FIDELITY_TOLERANCE": 0.05,
        "GATE_MAX_LATENCY_RATIO": 2.0,
    }

    thresholds = GateThresholds.from_settings()

    assert (thresholds.min_improvement_abs, thresholds.min_improvement_rel) == (0.01, 0.02)
    assert (thresholds.fidelity_tolerance, thresholds.max_latency_ratio) == (0.05, 2.0)
    assert thresholds.primary_metric == "rouge_l"


def test_stable_sample_takes_one_row_per_product_and_ignores_row_order(catalog_frame):
    first = stable_product_sample(catalog_frame, split=None, products=20)
    shuffled = stable_product_sample(catalog_frame.sample(frac=1, random_state=1), split=None, products=20)

    assert len(first) == 20
    assert first["sku"].is_unique
    assert set(first["split"]) == {"test"}
    assert sorted(zip(first["sku"], first["tone"], strict=True)) == sorted(
        zip(shuffled["sku"], shuffled["tone"], strict=True)
    )
    assert first["tone"].nunique() > 1  # tones are spread, not always the same one


def ood(foreign_brand_rate: float) -> dict:
    return both({"foreign_brand_rate": foreign_brand_rate, "own_fact_rate": 0.97, "items": 253}, None)


def test_a_foreign_brand_on_the_out_of_distribution_set_rejects_even_a_better_candidate():
    status, reason, rules = gate_rules_apply(scores=comparison(ood=ood(0.004)), thresholds=DEFAULT)

    assert status == "rejected"
    assert reason.endswith(
        "latency ratio 1.04 ≤ 1.50; foreign brands in 0.4% of out-of-distribution creatives (> 0) "
        "→ rejected (failed: foreign brands on ood)"
    )
    assert rules["foreign brands on ood"]["passed"] is False
    assert rules["foreign brands on ood"]["candidate"] == 0.004


def test_no_foreign_brand_on_the_out_of_distribution_set_passes():
    status, reason, rules = gate_rules_apply(scores=comparison(ood=ood(0.0)), thresholds=DEFAULT)

    assert status == "candidate"
    assert "; foreign brands in 0.0% of out-of-distribution creatives (= 0) → candidate" in reason
    assert rules["foreign brands on ood"]["passed"] is True


def test_the_first_model_is_rejected_for_a_foreign_brand_on_the_out_of_distribution_set():
    first = {"test": both(scores(0.41, 0.99, 10.0), None), "ood": ood(0.01)}

    status, reason, rules = gate_rules_apply(scores=first, thresholds=DEFAULT)

    assert status == "rejected"
    assert reason == (
        "No production version yet: nothing to compare with; rouge_l 0.410 and fidelity 0.99 on test; "
        "foreign brands in 1.0% of out-of-distribution creatives (> 0) "
        "→ rejected (failed: foreign brands on ood)"
    )
    assert list(rules) == ["foreign brands on ood"]
    assert gate_rules_apply(scores={**first, "ood": ood(0.0)}, thresholds=DEFAULT)[0] == "candidate"


# --- A gate that knows noise: the paired bootstrap interval of the primary metric --------------------

SIGNIFICANT = GateThresholds(
    min_improvement_abs=0.0,
    min_improvement_rel=0.0,
    fidelity_tolerance=0.02,
    max_latency_ratio=1.5,
    require_significant=True,
)


def _items(values: list[float]) -> list[dict]:
    return [
        {"sku": f"SKU-{i}", "tone": "bold", "category": "Toys" if i % 2 else "Garden", "rouge_l": value}
        for i, value in enumerate(values)
    ]


def _paired(gain: float, noise: float, items: int = 400, seed: int = 1) -> dict:
    """A test set whose candidate differs from production by `gain` ± `noise` per item."""
    rng = random.Random(seed)
    production = [rng.uniform(0.2, 0.6) for _ in range(items)]
    # ± noise in turn: the mean change is exactly `gain`, the spread `noise`
    candidate = [value + gain + (noise if index % 2 else -noise) for index, value in enumerate(production)]
    pair = both(scores(sum(candidate) / items, 0.99, 10.0), scores(sum(production) / items, 0.99, 10.0))
    return {**pair, **paired_comparison(_items(candidate), _items(production), "rouge_l")}


def test_a_tiny_noisy_gain_is_rejected_with_the_interval_in_the_reason():
    status, reason, rules = gate_rules_apply(scores={"test": _paired(0.002, 0.08)}, thresholds=SIGNIFICANT)

    assert rules["rouge_l on test"]["passed"]  # the mean alone went up
    assert not rules["rouge_l interval on test"]["passed"]
    assert status == "rejected"
    shape = r"rouge_l \+0\.\d{3}, 95% CI -0\.\d{3} … \+0\.\d{3} on 400 test items: the lower end"
    assert re.search(shape, reason)
    assert "the change may be noise" in reason and "(failed: rouge_l interval on test)" in reason


def test_a_clear_gain_passes_with_its_interval_and_the_rule_can_be_switched_off():
    pair = _paired(0.05, 0.02)
    status, reason, rules = gate_rules_apply(scores={"test": pair}, thresholds=SIGNIFICANT)
    assert status == "candidate"
    interval = pair["interval"]
    assert 0.045 < interval["low"] < interval["delta"] < interval["high"] < 0.055
    described = f"95% CI {interval['low']:+.3f} … {interval['high']:+.3f} on 400 test items"
    assert f"{described} (lower end ≥ +0.000)" in reason

    noisy = _paired(0.002, 0.08)
    assert gate_rules_apply(scores={"test": noisy}, thresholds=DEFAULT)[0] == "candidate"  # rule off


def test_the_comparison_pairs_items_by_product_and_tone_and_breaks_the_change_down_by_category():
    candidate = _items([0.5, 0.7, 0.4, 0.9])
    production = list(reversed(_items([0.4, 0.5, 0.4, 0.5])))  # another order: paired by key
    unpaired = {"sku": "X", "tone": "bold", "rouge_l": 1}
    comparison_ = paired_comparison(candidate, [*production, unpaired], "rouge_l")
    assert comparison_["interval"]["items"] == 4
    assert comparison_["interval"]["delta"] == pytest.approx((0.1 + 0.2 + 0.0 + 0.4) / 4)
    assert comparison_["breakdown"] == [
        {"category": "Garden", "items": 2, "candidate": 0.45, "production": 0.4, "delta": approx(0.05)},
        {"category": "Toys", "items": 2, "candidate": 0.8, "production": 0.5, "delta": approx(0.3)},
    ]


def test_the_rule_is_on_by_default(settings):
    assert GateThresholds.from_settings().require_significant is True
    settings.CREATIVEOPS = {**settings.CREATIVEOPS, "GATE_REQUIRE_SIGNIFICANT": False}
    assert GateThresholds.from_settings().require_significant is False
