from __future__ import annotations

import pytest

from products.models import Product
from registry.models import ModelVersion
from tests.factories.products import dataset_version_from_catalog
from tests.factories.registry import ModelVersionFactory


@pytest.fixture
def baseline(db):
    """120 generated products, a dataset version cut from them, and a production model trained on it."""
    dataset_version = dataset_version_from_catalog(products=120, seed=7, note="drift test baseline")
    return ModelVersionFactory(
        version=1, training_run__dataset_version=dataset_version, status=ModelVersion.Status.PRODUCTION
    )


@pytest.fixture
def catalog(baseline):
    return list(Product.objects.order_by("sku"))


@pytest.fixture
def drift_triggers_pipeline(settings):
    settings.CREATIVEOPS = {**settings.CREATIVEOPS, "DRIFT_TRIGGERS_PIPELINE": True}
