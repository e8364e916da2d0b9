"""The gate on two real tiny models: champion and challenger scored on the same rows of both sets."""

from __future__ import annotations

import json

import pytest

from registry.models import ModelVersion
from registry.services.gate import (
    SAMPLE_OUTPUT_PRODUCTS,
    GateThresholds,
    evaluate_candidate,
    gate_rules_apply,
)
from tests.factories.registry import model_version_with_artifact

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

STRICT = GateThresholds(
    min_improvement_abs=1.0, min_improvement_rel=0.0, fidelity_tolerance=0.0, max_latency_ratio=1.5
)


def test_candidate_and_production_are_scored_on_the_same_rows(tiny_artifacts, catalog_frame, golden_frame):
    production = model_version_with_artifact(
        source=tiny_artifacts["early"], version=1, status=ModelVersion.Status.PRODUCTION
    )

    decision = evaluate_candidate(
        candidate_artifact=tiny_artifacts["trained"],
        production=production,
        test_frame=catalog_frame,
        golden_frame=golden_frame,
    )

    evaluation = decision.evaluation
    test_products = catalog_frame[catalog_frame["split"] == "test"]["sku"].nunique()
    assert evaluation["test"]["rows"] == test_products  # one row for every test product
    assert evaluation["golden"]["rows"] == golden_frame["sku"].nunique()  # every golden product, one tone
    for dataset in ("test", "golden"):  # each item scored by both: the change with its interval
        interval, breakdown = evaluation[dataset]["interval"], evaluation[dataset]["breakdown"]
        assert interval["items"] == evaluation[dataset]["rows"] and interval["confidence"] == 0.95
        assert interval["low"] <= interval["delta"] <= interval["high"]
        assert sum(row["items"] for row in breakdown) == interval["items"]
    for dataset in ("test", "golden"):
        candidate, champion = evaluation[dataset]["candidate"], evaluation[dataset]["production"]
        assert candidate["items"] == champion["items"] == evaluation[dataset]["rows"]
        for metric in ("rouge_l", "fact_fidelity", "distinct_2", "latency_ms_mean"):
            assert candidate[metric] >= 0 and champion[metric] >= 0
    assert evaluation["production_version"] == 1
    # The stored decision is exactly what the rules say about the stored scores.
    status, reason, rules = gate_rules_apply(
        scores={"test": evaluation["test"], "golden": evaluation["golden"]},
        thresholds=GateThresholds.from_settings(),
    )
    assert (decision.status, decision.reason, evaluation["rules"]) == (status, reason, rules)
    assert evaluation["decision"] == decision.status
    assert reason.startswith("rouge_l ")
    assert " on test (" in reason and " on golden (" in reason and "latency ratio " in reason
    # And the same scores under a rule no model can meet are a rejection naming the rules.
    strict_status, strict_reason, _ = gate_rules_apply(
        scores={"test": evaluation["test"], "golden": evaluation["golden"]}, thresholds=STRICT
    )
    assert strict_status == "rejected"
    assert "(failed: rouge_l on test, rouge_l on golden" in strict_reason
    # Five products, written by both models, beside the reference.
    samples = evaluation["sample_outputs"]
    assert len(samples) == SAMPLE_OUTPUT_PRODUCTS
    assert len({sample["sku"] for sample in samples}) == SAMPLE_OUTPUT_PRODUCTS
    for sample in samples:
        assert set(sample["candidate"]) == set(sample["production"]) == {"headline", "body", "cta"}
        assert sample["reference"]["headline"]
    json.dumps(evaluation)  # stored in a JSONField as is


def test_first_model_is_scored_alone_and_becomes_a_candidate(tiny_artifacts, catalog_frame, golden_frame):
    decision = evaluate_candidate(
        candidate_artifact=tiny_artifacts["early"],
        production=None,
        test_frame=catalog_frame,
        golden_frame=golden_frame.head(40),  # 10 products x 4 tones
    )

    assert decision.status == "candidate"
    assert decision.reason.startswith("No production version yet: nothing to compare with; rouge_l ")
    assert decision.evaluation["golden"]["rows"] == 10
    assert decision.evaluation["golden"]["production"] is None
    assert all(sample["production"] is None for sample in decision.evaluation["sample_outputs"])


def test_the_out_of_distribution_set_is_imported_as_its_own_version_and_scored_by_the_gate(
    tiny_artifacts, catalog_frame, golden_frame
):
    from products.models import DatasetVersion
    from training.services.ood import ood_frame_read

    ood_frame = ood_frame_read()
    version = DatasetVersion.objects.get(kind=DatasetVersion.Kind.OOD)
    products = ood_frame["sku"].nunique()
    assert products >= 200 and len(ood_frame) == version.row_count
    assert ood_frame_read().equals(ood_frame)  # imported once: the second read finds the same version

    decision = evaluate_candidate(
        candidate_artifact=tiny_artifacts["early"],
        production=None,
        test_frame=catalog_frame,
        golden_frame=golden_frame.head(40),
        ood_frame=ood_frame,
    )

    scored = decision.evaluation["ood"]
    assert scored["products"] == products and scored["production"] is None
    assert scored["candidate"]["items"] == products  # one tone of every product
    for metric in ("foreign_brand_rate", "own_fact_rate", "number_fidelity", "distinct_2"):
        assert 0.0 <= scored["candidate"][metric] <= 1.0
    assert scored["candidate"]["number_fidelity"] == 1.0  # the number guard's promise, whatever the model
    rule = decision.evaluation["rules"]["foreign brands on ood"]
    assert rule["passed"] == (scored["candidate"]["foreign_brand_rate"] == 0.0)
    assert decision.status == ("candidate" if rule["passed"] else "rejected")
    json.dumps(decision.evaluation)
