"""Builders for the drift tests: a production model trained on a real dataset version, and prediction logs.

The dataset version is cut by the products service from stored generated products, so its statistics
are written by the real statistics code, exactly the baseline the drift check reads in production.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from inference.models import PredictionLog
from products.models import DatasetVersion, Product
from products.services.catalog import product_bulk_upsert_generated
from products.services.snapshots import dataset_version_create
from registry.models import ModelVersion
from training.models import TrainingRun


def dataset_version_from_generated(*, count: int = 120, seed: int = 7) -> DatasetVersion:
    product_bulk_upsert_generated(count=count, seed=seed)
    return dataset_version_create(trigger=DatasetVersion.Trigger.MANUAL, note="drift test baseline")


def model_version_make(
    *,
    dataset_version: DatasetVersion,
    version: int = 1,
    status: str = ModelVersion.Status.PRODUCTION,
    name: str | None = None,
) -> ModelVersion:
    training_run = TrainingRun.objects.create(
        dataset_version=dataset_version, preset="tiny", status=TrainingRun.Status.SUCCEEDED
    )
    return ModelVersion.objects.create(
        name=name or settings.CREATIVEOPS["DEFAULT_MODEL_NAME"],
        version=version,
        training_run=training_run,
        gate_passed=True,
        artifact_uri=f"models/drift-test-v{version}",
        artifact_sha256="0" * 64,
        status=status,
        promoted_at=timezone.now() if status == ModelVersion.Status.PRODUCTION else None,
    )


def prediction_logs_make(
    *,
    model_version: ModelVersion,
    inputs: Iterable[dict],
    created_at: datetime | None = None,
    endpoint: str = "predict",
) -> list[PredictionLog]:
    """One log row per input dict (category, price, title_length, description_length), as serving writes."""
    logs = PredictionLog.objects.bulk_create(
        PredictionLog(
            model_version=model_version,
            endpoint=endpoint,
            category=item.get("category", ""),
            price=item.get("price"),
            title_length=item["title_length"],
            description_length=item["description_length"],
            tone=item.get("tone", "bold"),
            latency_ms=12.5,
        )
        for item in inputs
    )
    if created_at is not None:
        PredictionLog.objects.filter(pk__in=[log.pk for log in logs]).update(created_at=created_at)
    return logs


def inputs_of_products(products: Iterable[Product]) -> list[dict]:
    """The inputs a client sending these catalog products would produce."""
    return [
        {
            "category": product.category,
            "price": product.price,
            "title_length": len(product.title),
            "description_length": len(product.description),
        }
        for product in products
    ]


def shifted_inputs(count: int, *, category: str) -> list[dict]:
    """Traffic unlike any catalog: one category, luxury prices, very long titles and descriptions."""
    return [
        {
            "category": category,
            "price": Decimal("1499.00") + index,
            "title_length": 180,
            "description_length": 2500,
        }
        for index in range(count)
    ]
