"""The model version factory, and model versions and training runs whose artifacts really exist.

`ModelVersionFactory` is the one way to make a ModelVersion row (its training run: a succeeded
`TrainingRunFactory`). `model_version_with_artifact` also writes its artifact into the test's
artifact storage with the real checksum: a small but *real* artifact folder (`artifact_make`: files
plus a manifest with checksums, as `training.ml.artifact` writes them) or a copy of a trained tiny
model (`artifact_copy`), so promotion, the gate and serving verify and load it for real.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import factory
from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone

from registry.models import ModelVersion
from tests.factories.training import TrainingRunFactory
from training.models import TrainingRun


def evaluation_for(
    *, test: float, golden: float, production: tuple[float, float] | None = None, against=None
):
    """A gate evaluation dict shaped like the real one, with hand-picked primary-metric values."""

    def scores(value: float) -> dict:
        return {"rouge_l": value, "fact_fidelity": 0.95, "distinct_2": 0.5, "latency_ms_mean": 10.0}

    def paired(candidate: float, champion: float) -> dict:  # the gate's interval and per-category change
        delta = candidate - champion
        interval = {"delta": delta, "low": delta - 0.02, "high": delta + 0.02, "items": 64}
        interval["confidence"] = 0.95
        category = {"category": "Toys", "items": 64, "candidate": candidate, "production": champion}
        return {"interval": interval, "breakdown": [{**category, "delta": delta}]}

    return {
        "test": {
            "candidate": scores(test),
            "production": scores(production[0]) if production else None,
            **(paired(test, production[0]) if production else {}),
        },
        "golden": {
            "candidate": scores(golden),
            "production": scores(production[1]) if production else None,
            **(paired(golden, production[1]) if production else {}),
        },
        "rules": {"rouge_l on test": {"passed": True}} if production else {},
        "production_version": against,
        "sample_outputs": [],
    }


class ModelVersionFactory(factory.django.DjangoModelFactory):
    """A registered candidate of the default model; `status=PRODUCTION` also sets `promoted_at`."""

    class Meta:
        model = ModelVersion

    name = factory.LazyFunction(lambda: settings.CREATIVEOPS["DEFAULT_MODEL_NAME"])
    version = factory.Sequence(lambda n: n + 1)
    training_run = factory.SubFactory(TrainingRunFactory, succeeded=True)
    metrics = factory.LazyAttribute(lambda version: dict(version.training_run.metrics))
    evaluation = factory.LazyFunction(lambda: evaluation_for(test=0.40, golden=0.38))
    gate_passed = True
    gate_reason = "No production version yet: nothing to compare with; rouge_l 0.400 on test → candidate"
    artifact_uri = factory.LazyAttribute(lambda version: version.training_run.artifact_uri)
    artifact_sha256 = factory.LazyAttribute(lambda version: version.training_run.artifact_sha256)
    status = ModelVersion.Status.CANDIDATE
    promoted_at = factory.LazyAttribute(
        lambda version: timezone.now() if version.status == ModelVersion.Status.PRODUCTION else None
    )


def artifact_make(uri: str, *, seed: str = "weights") -> str:
    """Write a small artifact (config, weights bytes, manifest with checksums) at `uri`; its sha256."""
    from training.ml.artifact import build_manifest, sha256_of_directory, write_manifest

    folder = Path(default_storage.path(uri))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "llama", "seed": seed}))
    (folder / "model.safetensors").write_bytes(seed.encode() * 64)
    write_manifest(folder, build_manifest(folder, preset="tiny"))
    return sha256_of_directory(folder)


def artifact_copy(source: Path, uri: str) -> str:
    """Copy a trained artifact folder to `uri` in artifact storage; its sha256."""
    from training.ml.artifact import sha256_of_directory

    target = Path(default_storage.path(uri))
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, target)
    os.chmod(target, 0o755)
    return sha256_of_directory(target)


def model_version_with_artifact(*, source: Path | None = None, **fields) -> ModelVersion:
    """A ModelVersion whose artifact exists in storage with a matching checksum: a copy of the trained
    folder `source`, or a small made-up one (`artifact_make`)."""
    return ModelVersionFactory(training_run=training_run_with_artifact(source), **fields)


def training_run_with_artifact(source: Path | None = None, **fields) -> TrainingRun:
    """A succeeded training run whose artifact is in storage with its real checksum."""
    run = TrainingRunFactory(succeeded=True, **fields)
    sha = (
        artifact_copy(source, run.artifact_uri)
        if source
        else artifact_make(run.artifact_uri, seed=str(run.pk))
    )
    TrainingRun.objects.filter(pk=run.pk).update(artifact_sha256=sha)
    run.refresh_from_db()
    return run
