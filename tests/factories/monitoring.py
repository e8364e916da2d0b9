"""Builders for the drift tests: prediction logs, as serving writes them, and the inputs they log.

The baseline is a model version (`tests.factories.registry.ModelVersionFactory`) trained on a real
dataset version (`tests.factories.products.dataset_version_from_catalog`), whose statistics are
written by the real statistics code: exactly the baseline the drift check reads in production.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from inference.models import PredictionLog
from products.models import Product
from registry.models import ModelVersion


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
            unseen_category=item.get("unseen_category", False),
            unseen_brand=item.get("unseen_brand", False),
            unseen_vocabulary=item.get("unseen_vocabulary", False),
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
