"""Factories for the serving tests: creatives and drift reports, plus the served flavour of the shared
model-version and pipeline-run factories.

Products, model versions and pipeline runs come from the canonical factories (`tests.factories.products`,
`tests.factories.registry`, `tests.factories.pipeline`); this module only narrows their defaults to what
the serving tests read (a served version's metrics, a finished pipeline run).

`model_version_with_artifact` copies a trained artifact folder into the test's MEDIA_ROOT and
registers it with its real checksum, so serving loads and verifies it exactly as in production.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import factory
from django.utils import timezone

from creativeops.pipeline.models import PipelineRun
from inference.models import Creative, DriftReport
from registry.models import ModelVersion
from tests.factories import pipeline, registry
from tests.factories.products import ProductFactory
from tests.factories.registry import artifact_copy

__all__ = [
    "CreativeFactory",
    "DriftReportFactory",
    "ModelVersionFactory",
    "PipelineRunFactory",
    "ProductFactory",
    "model_version_with_artifact",
]


class ModelVersionFactory(registry.ModelVersionFactory):
    """A registered version with the metrics the serving dashboards and gauges read."""

    metrics = factory.LazyFunction(lambda: {"rouge_l": 0.41, "fact_fidelity": 0.97, "val_loss": 1.2})
    artifact_uri = factory.LazyAttribute(lambda version: f"models/test-v{version.version}")


def model_version_with_artifact(source: Path, *, version: int, status: str = ModelVersion.Status.CANDIDATE):
    """A registered version whose artifact is a copy of `source`, with the copy's real checksum."""
    uri = f"models/test-v{version}"
    return ModelVersionFactory(
        version=version,
        artifact_uri=uri,
        artifact_sha256=artifact_copy(source, uri),
        status=status,
        promoted_at=timezone.now() if status == ModelVersion.Status.PRODUCTION else None,
    )


class CreativeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Creative

    product = factory.SubFactory(ProductFactory, creatives=[])
    model_version = factory.SubFactory(ModelVersionFactory)
    tone = "bold"
    headline = "Meet the Ridgeway backpack"
    body = "Ripstop nylon, 30 L, sheds rain."
    cta = "Get yours"
    source = Creative.Source.API

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        """Through the store service, as every creative is written, so `is_current` is what it would be."""
        from inference.services import creatives_store

        creative = model_class(*args, **kwargs)
        creatives_store(rows=[creative], source=creative.source)
        return creative


class PipelineRunFactory(pipeline.PipelineRunFactory):
    """A finished (succeeded) run: what the metrics gauges count."""

    status = PipelineRun.Status.SUCCEEDED
    started_at = factory.LazyFunction(timezone.now)
    finished_at = factory.LazyFunction(timezone.now)


class DriftReportFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DriftReport

    window_start = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))
    window_end = factory.LazyFunction(timezone.now)
    sample_size = 500
    psi = factory.LazyFunction(lambda: {"price": 0.05, "title_length": 0.31, "category": 0.12})
    max_psi = 0.31
    threshold = 0.2
    drifted = True
