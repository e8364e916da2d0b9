"""Factories for the serving tests: catalog products, a registered model version with a real artifact,
creatives, pipeline runs and drift reports.

`model_version_with_artifact` copies a trained artifact folder into the test's MEDIA_ROOT and
registers it with its real checksum, so serving loads and verifies it exactly as in production.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import factory
from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone

from creativeops.pipeline.models import PipelineRun
from inference.models import Creative, DriftReport
from products.models import DatasetVersion, Product
from registry.models import ModelVersion
from training.ml import sha256_of_directory
from training.models import TrainingRun


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    sku = factory.Sequence(lambda n: f"SRV-{n:05d}")
    title = factory.Sequence(lambda n: f"Ridgeway Ripstop Backpack {20 + n % 40} L")
    category = "outdoor"
    brand = "Ridgeway"
    description = "The Ridgeway backpack is made from ripstop nylon and sheds rain. It has a 3-year warranty."
    price = Decimal("89.99")
    rating = Decimal("4.5")


class DatasetVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DatasetVersion

    number = factory.Sequence(lambda n: 70_000 + n)
    file = factory.LazyAttribute(lambda version: f"datasets/v{version.number}.parquet")
    sha256 = "0" * 64
    size_bytes = 1024
    row_count = 480
    product_count = 120
    split_counts = factory.LazyFunction(lambda: {"train": 96, "validation": 12, "test": 12})


class TrainingRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TrainingRun

    dataset_version = factory.SubFactory(DatasetVersionFactory)
    preset = "tiny"
    status = TrainingRun.Status.SUCCEEDED
    parameter_count = 131_904


class ModelVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelVersion

    name = factory.LazyFunction(lambda: settings.CREATIVEOPS["DEFAULT_MODEL_NAME"])
    version = factory.Sequence(lambda n: n + 1)
    training_run = factory.SubFactory(TrainingRunFactory)
    metrics = factory.LazyFunction(lambda: {"rouge_l": 0.41, "fact_fidelity": 0.97, "val_loss": 1.2})
    gate_passed = True
    artifact_uri = factory.LazyAttribute(lambda version: f"models/test-v{version.version}")
    artifact_sha256 = "0" * 64
    status = ModelVersion.Status.CANDIDATE


def artifact_copy(source: Path, uri: str) -> Path:
    """Copy a trained artifact folder to `uri` in artifact storage (the test's MEDIA_ROOT)."""
    target = Path(default_storage.path(uri))
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, target)
    return target


def model_version_with_artifact(source: Path, *, version: int, status: str = ModelVersion.Status.CANDIDATE):
    """A registered version whose artifact is a copy of `source`, with the copy's real checksum."""
    uri = f"models/test-v{version}"
    path = artifact_copy(source, uri)
    return ModelVersionFactory(
        version=version,
        artifact_uri=uri,
        artifact_sha256=sha256_of_directory(path),
        status=status,
        promoted_at=timezone.now() if status == ModelVersion.Status.PRODUCTION else None,
    )


class CreativeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Creative

    product = factory.SubFactory(ProductFactory)
    model_version = factory.SubFactory(ModelVersionFactory)
    tone = "bold"
    headline = "Meet the Ridgeway backpack"
    body = "Ripstop nylon, 30 L, sheds rain."
    cta = "Get yours"
    source = Creative.Source.API


class PipelineRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PipelineRun

    model_name = factory.LazyFunction(lambda: settings.CREATIVEOPS["DEFAULT_MODEL_NAME"])
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
