"""Factories for the serving tests: creatives and drift reports.

Products, model versions and pipeline runs come from their own factories (`tests.factories.products`,
`tests.factories.registry`, `tests.factories.pipeline`).
"""

from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone

from creativeops.monitoring.models import DriftReport
from inference.models import Creative
from tests.factories.products import ProductFactory
from tests.factories.registry import ModelVersionFactory


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
