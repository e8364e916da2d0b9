"""Registering training runs: numbering, idempotency, the gate on real dataset versions, auto-promotion."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.storage import default_storage

from creativeops.core.errors import ApplicationError
from products.services import dataset_version_create, products_generate_and_store
from registry.models import ModelVersion, RegistryEvent
from registry.services import model_version_promote, model_version_register
from tests.factories.registry import training_run_with_artifact
from tests.factories.training import TrainingRunFactory

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

NAME = "creative-generator"


@pytest.fixture
def small_sets(settings):
    """A 60-product catalog snapshot and a 24-product golden set: the real files, checksums and reads."""
    settings.CREATIVEOPS = {**settings.CREATIVEOPS, "GOLDEN_SET_SIZE": 24, "AUTO_PROMOTE": False}
    products_generate_and_store(count=60, seed=11)
    return dataset_version_create(trigger="manual")


def run_for(tiny_artifacts, dataset_version, model: str = "trained"):
    return training_run_with_artifact(tiny_artifacts[model], dataset_version=dataset_version)


def events() -> list[tuple[str, int | None, int | None, str]]:
    return [
        (
            event.action,
            event.from_version.version if event.from_version else None,
            event.to_version.version if event.to_version else None,
            event.actor_label,
        )
        for event in RegistryEvent.objects.order_by("created_at", "id").select_related(
            "from_version", "to_version"
        )
    ]


def test_first_registration_is_version_one_and_a_candidate(tiny_artifacts, small_sets):
    run = run_for(tiny_artifacts, small_sets)

    version = model_version_register(training_run=run)

    assert (version.name, version.version, version.status) == (NAME, 1, "candidate")
    assert version.gate_passed is True
    assert version.gate_reason.startswith("No production version yet: nothing to compare with; rouge_l ")
    assert (version.artifact_uri, version.artifact_sha256) == (run.artifact_uri, run.artifact_sha256)
    assert version.metrics == run.metrics
    evaluation = version.evaluation
    assert evaluation["golden"]["rows"] == 24
    assert evaluation["test"]["rows"] == small_sets.split_counts["test"]
    assert evaluation["test"]["production"] is None
    assert len(evaluation["sample_outputs"]) == 5
    assert events() == [("register", None, 1, "system")]
    assert RegistryEvent.objects.get().reason.startswith(f"Registered v1 from training run #{run.pk}. Gate: ")


def test_registering_is_idempotent_and_numbers_versions_per_name(
    tiny_artifacts, small_sets, operator_user, settings
):
    # The same model twice: identical scores, so only latency noise could differ; allow for a busy CI box.
    settings.CREATIVEOPS = {**settings.CREATIVEOPS, "GATE_MAX_LATENCY_RATIO": 10.0}
    first_run, second_run = run_for(tiny_artifacts, small_sets), run_for(tiny_artifacts, small_sets)
    v1 = model_version_register(training_run=first_run, actor=operator_user)

    again = model_version_register(training_run=first_run, actor=operator_user)  # the step delivered twice

    assert again.pk == v1.pk
    assert ModelVersion.objects.count() == 1
    assert events() == [("register", None, 1, "operator")]

    model_version_promote(version=v1, actor=operator_user, reason="First model.")
    v2 = model_version_register(training_run=second_run, actor=operator_user)

    assert (v2.version, v2.status, v2.gate_passed) == (2, "candidate", True)
    assert v2.evaluation["production_version"] == 1
    assert "rouge_l" in v2.gate_reason and "vs production" in v2.gate_reason
    assert "(+0.000 ≥ 0.000)" in v2.gate_reason  # same model, same rows: no change
    assert v2.gate_reason.endswith("→ candidate")
    for dataset in ("test", "golden"):
        candidate, champion = v2.evaluation[dataset]["candidate"], v2.evaluation[dataset]["production"]
        assert candidate["rouge_l"] == champion["rouge_l"]
        assert candidate["fact_fidelity"] == champion["fact_fidelity"]
    assert events()[-1] == ("register", 1, 2, "operator")
    other = model_version_register(training_run=run_for(tiny_artifacts, small_sets), name="headline-only")
    assert (other.name, other.version) == ("headline-only", 1)


def test_a_rejected_candidate_gets_a_reject_event(tiny_artifacts, small_sets, operator_user, settings):
    settings.CREATIVEOPS = {**settings.CREATIVEOPS, "GATE_MIN_IMPROVEMENT_ABS": 1.0}  # nothing can pass
    v1 = model_version_register(training_run=run_for(tiny_artifacts, small_sets, "early"))
    model_version_promote(version=v1, actor=operator_user, reason="First model.")

    v2 = model_version_register(training_run=run_for(tiny_artifacts, small_sets))

    assert (v2.version, v2.status, v2.gate_passed) == (2, "rejected", False)
    assert "(failed: rouge_l on test, rouge_l interval on test, rouge_l on golden" in v2.gate_reason
    assert events()[-2:] == [("register", 1, 2, "system"), ("reject", 1, 2, "system")]
    assert RegistryEvent.objects.first().reason == f"Rejected by the evaluation gate: {v2.gate_reason}"


def test_auto_promote_puts_a_passing_candidate_in_production(tiny_artifacts, small_sets, settings):
    settings.CREATIVEOPS = {**settings.CREATIVEOPS, "AUTO_PROMOTE": True}

    version = model_version_register(training_run=run_for(tiny_artifacts, small_sets, "early"))

    assert version.status == "production"
    assert events() == [("register", None, 1, "system"), ("auto_promote", None, 1, "system")]


def test_a_run_that_did_not_succeed_cannot_be_registered():
    run = TrainingRunFactory(failed=True)

    with pytest.raises(ApplicationError) as error:
        model_version_register(training_run=run)

    assert error.value.message == f"Training run #{run.pk} is failed; only a succeeded run can be registered."
    assert not ModelVersion.objects.exists()


def test_a_changed_artifact_cannot_be_registered(tiny_artifacts, small_sets):
    run = run_for(tiny_artifacts, small_sets)
    (Path(default_storage.path(run.artifact_uri)) / "manifest.json").write_text('{"files": {}}')

    with pytest.raises(ApplicationError) as error:
        model_version_register(training_run=run)

    # The emptied manifest no longer vouches for the weights file.
    assert error.value.message == (
        f"The artifact of training run #{run.pk} failed verification "
        "(model.safetensors: weights file not listed in the manifest); it was not registered."
    )
    assert not ModelVersion.objects.exists()
    assert not RegistryEvent.objects.exists()
