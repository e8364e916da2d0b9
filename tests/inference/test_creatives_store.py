"""`creatives_store`: the one write path of creatives keeps exactly one current row per (product,
version, tone), the one the marketers' pages show."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.db import IntegrityError, connection, transaction

from inference.models import Creative
from inference.services import creatives_store
from registry.models import ModelVersion
from tests.pages.builders import make_model_version, make_product

pytestmark = pytest.mark.django_db


@pytest.fixture
def version():
    return make_model_version(1, status=ModelVersion.Status.PRODUCTION)


@pytest.fixture
def product():
    return make_product("KIT-1", title="Copper Kettle")


def store(product, version, source: str, *headlines: str, tone: str = "bold") -> list[Creative]:
    rows = [
        Creative(product=product, model_version=version, tone=tone, headline=headline, body="b", cta="c")
        for headline in headlines
    ]
    return creatives_store(rows=rows, source=source)


def current_headlines(version, tone: str = "bold") -> list[str]:
    return list(
        Creative.objects.current().filter(model_version=version, tone=tone).values_list("headline", flat=True)
    )


def test_a_refresh_row_is_current_until_a_person_regenerates(product, version):
    store(product, version, Creative.Source.REFRESH, "refresh")
    assert current_headlines(version) == ["refresh"]

    store(product, version, Creative.Source.REGENERATE, "regenerated")

    assert current_headlines(version) == ["regenerated"]
    assert Creative.objects.filter(model_version=version).count() == 2


def test_a_refresh_reaching_a_regenerated_product_later_does_not_replace_it(product, version):
    store(product, version, Creative.Source.REGENERATE, "regenerated")

    store(product, version, Creative.Source.REFRESH, "refresh")

    assert current_headlines(version) == ["regenerated"]
    assert Creative.objects.get(source=Creative.Source.REFRESH).is_current is False


def test_of_several_variants_the_last_written_is_current(product, version):
    store(product, version, Creative.Source.API, "first", "second", "third")

    assert current_headlines(version) == ["third"]


def test_keys_are_independent(product, version):
    other_version = make_model_version(2)
    store(product, version, Creative.Source.REFRESH, "bold v1")
    store(product, version, Creative.Source.REFRESH, "value v1", tone="value")
    store(product, other_version, Creative.Source.REFRESH, "bold v2")

    store(product, version, Creative.Source.REGENERATE, "bold v1 again")

    assert current_headlines(version) == ["bold v1 again"]
    assert current_headlines(version, "value") == ["value v1"]
    assert current_headlines(other_version) == ["bold v2"]


def test_a_refresh_run_twice_writes_once_and_keeps_the_flags(product, version):
    store(product, version, Creative.Source.REFRESH, "refresh")
    store(product, version, Creative.Source.REGENERATE, "regenerated")

    store(product, version, Creative.Source.REFRESH, "refresh again")

    assert sorted(Creative.objects.values_list("headline", "is_current")) == [
        ("refresh", False),
        ("regenerated", True),
    ]


def test_the_database_refuses_a_second_current_row(product, version):
    store(product, version, Creative.Source.REFRESH, "refresh")

    with pytest.raises(IntegrityError), transaction.atomic():
        Creative.objects.create(
            product=product,
            model_version=version,
            tone="bold",
            headline="x",
            body="b",
            cta="c",
            is_current=True,
        )


def test_the_migration_flags_what_the_pages_showed_before(product, version):
    # Before the flag, the pages showed the newest non-refresh row of a key, else its refresh row.
    store(product, version, Creative.Source.REFRESH, "refresh")
    store(product, version, Creative.Source.REGENERATE, "older", "newest")
    store(product, version, Creative.Source.REFRESH, "value refresh", tone="value")
    Creative.objects.update(is_current=False)
    migration = importlib.import_module("inference.migrations.0004_creative_is_current")

    migration.mark_current(apps, connection.schema_editor())

    assert current_headlines(version) == ["newest"]
    assert current_headlines(version, "value") == ["value refresh"]
