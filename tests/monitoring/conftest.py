from __future__ import annotations

import pytest

from products.models import Product
from tests.factories.monitoring import dataset_version_from_generated, model_version_make


@pytest.fixture
def baseline(db):
    """120 generated products, a dataset version cut from them, and a production model trained on it."""
    dataset_version = dataset_version_from_generated(count=120, seed=7)
    return model_version_make(dataset_version=dataset_version)


@pytest.fixture
def catalog(baseline):
    return list(Product.objects.order_by("sku"))


@pytest.fixture
def drift_triggers_pipeline(settings):
    settings.CREATIVEOPS = {**settings.CREATIVEOPS, "DRIFT_TRIGGERS_PIPELINE": True}
