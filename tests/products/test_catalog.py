"""Storing the generated catalog: exact rows, idempotent re-runs, chunking, both database writers."""

from __future__ import annotations

import threading

import pytest
from django.core.management import call_command

from creativeops.core.errors import ApplicationError
from products.generator import CHANNELS, TONES, generate_catalog, iter_catalog
from products.models import Channel, Product, ReferenceCreative, Tone
from products.services import catalog as catalog_service
from products.services import (
    product_bulk_upsert_generated,
    products_generate_and_store,
    products_store_generated,
    writers_postgres,
)
from products.services.writers import CatalogWriteResult, orm_write_chunk
from tests.factories.products import ProductFactory
from training.ml import channels as training_channels

pytestmark = pytest.mark.django_db

CREATIVES_PER_PRODUCT = len(TONES) * len(CHANNELS)  # one per tone in every channel


def dump_catalog() -> list[tuple]:
    """Every stored product and creative, without ids and timestamps (what differs between databases)."""
    products = [
        (p.sku, p.title, p.category, p.brand, p.description, str(p.price), str(p.rating), p.url, p.source)
        for p in Product.objects.order_by("sku")
    ]
    creatives = list(
        ReferenceCreative.objects.order_by("product__sku", "channel", "tone").values_list(
            "product__sku", "channel", "tone", "headline", "body", "cta"
        )
    )
    return products + creatives


def expected_catalog(count: int, seed: int) -> list[tuple]:
    generated = sorted(generate_catalog(count, seed), key=lambda product: product.sku)
    products = [
        (p.sku, p.title, p.category, p.brand, p.description, str(p.price), str(p.rating), p.url, "generated")
        for p in generated
    ]
    creatives = [
        (p.sku, c.channel, c.tone, c.headline, c.body, c.cta)
        for p in generated
        for c in sorted(p.creatives, key=lambda creative: (creative.channel, creative.tone))
    ]
    return products + creatives


def test_model_tones_are_the_generator_tones():
    assert tuple(Tone.values) == TONES


def test_model_channels_are_the_generator_channels_and_those_of_training():
    assert Channel.values == list(training_channels.CHANNELS)  # tests may import any layer
    assert tuple(Channel.values) == CHANNELS


def test_generated_products_are_stored_exactly_with_every_creative():
    result = product_bulk_upsert_generated(count=40, seed=11)

    assert result == CatalogWriteResult(created=40, updated=0, unchanged=0)
    assert dump_catalog() == expected_catalog(40, 11)
    assert ReferenceCreative.objects.count() == 40 * CREATIVES_PER_PRODUCT
    assert ReferenceCreative.objects.filter(channel="google_search").count() == 40 * len(TONES)


def test_rerun_with_the_same_seed_updates_nothing_and_never_duplicates():
    product_bulk_upsert_generated(count=25, seed=3)
    stamps = dict(Product.objects.values_list("sku", "updated_at"))

    again = product_bulk_upsert_generated(count=25, seed=3)

    assert again == CatalogWriteResult(created=0, updated=0, unchanged=25)
    assert Product.objects.count() == 25
    assert ReferenceCreative.objects.count() == 25 * CREATIVES_PER_PRODUCT
    assert dict(Product.objects.values_list("sku", "updated_at")) == stamps
    assert dump_catalog() == expected_catalog(25, 3)


def test_rerun_restores_edited_products_and_creatives():
    product_bulk_upsert_generated(count=10, seed=5)
    first, second, third = Product.objects.order_by("sku")[:3]
    Product.objects.filter(pk=first.pk).update(title="Edited by hand", source=Product.Source.IMPORTED)
    ReferenceCreative.objects.filter(product=second, tone="bold").update(headline="Edited headline")
    Product.objects.filter(pk=third.pk).update(url="https://example.org/moved")

    result = product_bulk_upsert_generated(count=10, seed=5)

    assert result == CatalogWriteResult(created=0, updated=3, unchanged=7)
    assert dump_catalog() == expected_catalog(10, 5)


def test_growing_a_catalog_stores_only_the_new_products():
    product_bulk_upsert_generated(count=10, seed=8)

    result = product_bulk_upsert_generated(count=25, seed=8, chunk_size=7)

    assert result == CatalogWriteResult(created=15, updated=0, unchanged=10)
    assert dump_catalog() == expected_catalog(25, 8)


def test_chunk_size_does_not_change_the_rows_and_progress_counts_every_product():
    reported: list[int] = []

    product_bulk_upsert_generated(count=23, seed=9, chunk_size=5, progress=reported.append)

    assert reported == [5, 5, 5, 5, 3]
    assert dump_catalog() == expected_catalog(23, 9)


def test_two_seeds_add_up_and_existing_imports_are_kept():
    ProductFactory(sku="IMPORTED-1")

    assert products_generate_and_store(count=5, seed=1) == 5
    assert products_generate_and_store(count=5, seed=2) == 5

    assert Product.objects.count() == 11
    assert Product.objects.filter(source=Product.Source.GENERATED).count() == 10


def test_same_seed_into_two_empty_databases_gives_identical_rows():
    product_bulk_upsert_generated(count=60, seed=21, chunk_size=16)
    first = dump_catalog()
    Product.objects.all().delete()

    product_bulk_upsert_generated(count=60, seed=21, chunk_size=50)

    assert dump_catalog() == first


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_generate_products_command_twice_into_empty_databases_is_identical():
    """Really two empty databases: committed writes, then `flush` (the roles are restored afterwards)."""
    call_command("generate_products", count=1000, seed=7, no_progress=True)
    first = dump_catalog()
    call_command("flush", interactive=False, verbosity=0)
    assert Product.objects.count() == 0

    call_command("generate_products", count=1000, seed=7, no_progress=True)

    assert len(first) == 1000 * (1 + CREATIVES_PER_PRODUCT)
    assert dump_catalog() == first


@pytest.mark.parametrize(
    ("count", "seed", "field", "message"),
    [
        (-1, 1, "count", "count must be 0 or more; got -1."),
        (1, -1, "seed", "seed must be from 0 to 18446744073709551615; got -1."),
        (1, 2**64, "seed", "seed must be from 0 to 18446744073709551615; got 18446744073709551616."),
    ],
)
def test_invalid_arguments_are_refused(count, seed, field, message):
    with pytest.raises(ApplicationError) as raised:
        product_bulk_upsert_generated(count=count, seed=seed)

    assert (raised.value.field, raised.value.message) == (field, message)
    assert Product.objects.count() == 0


def test_the_golden_set_seed_is_never_stored(settings):
    settings.CREATIVEOPS = {**settings.CREATIVEOPS, "GOLDEN_SET_SEED": 99}

    with pytest.raises(ApplicationError) as raised:
        product_bulk_upsert_generated(count=3, seed=99)

    assert raised.value.message == (
        "Seed 99 is the golden evaluation set's seed (GOLDEN_SET_SEED): its products must never be stored "
        "and trained on. Pick another seed."
    )
    assert Product.objects.count() == 0


def test_an_error_in_the_generator_reaches_the_caller_and_stops_at_the_failed_chunk(monkeypatch):
    products = generate_catalog(12, 4)

    def failing_stream(count, seed):
        yield from products[:10]
        raise ValueError("generator broke")

    monkeypatch.setattr(catalog_service, "iter_catalog", failing_stream)

    with pytest.raises(ValueError, match="generator broke"):
        product_bulk_upsert_generated(count=12, seed=4, chunk_size=5)

    assert Product.objects.count() == 10  # two whole chunks; never a product without its creatives
    assert ReferenceCreative.objects.count() == 10 * CREATIVES_PER_PRODUCT


def test_postgres_direct_copy_falls_back_to_merge_when_a_sku_appears_concurrently(on_postgres, monkeypatch):
    """A writer that stores a sku between the existence check and the COPY: the chunk is merged."""
    product_bulk_upsert_generated(count=3, seed=6)
    monkeypatch.setattr(writers_postgres, "_postgres_existing_skus", lambda cursor, skus: set())

    result = product_bulk_upsert_generated(count=6, seed=6)

    assert result == CatalogWriteResult(created=3, updated=0, unchanged=3)
    assert dump_catalog() == expected_catalog(6, 6)


def test_a_fresh_run_that_meets_existing_products_further_on_merges_them():
    """After an all-new chunk the next one is written without asking which skus exist; products that
    exist after all (here: the middle of the catalog) are merged, never duplicated."""
    products_store_generated(products=iter_catalog(5, 8, start=5), seed=8)

    result = product_bulk_upsert_generated(count=15, seed=8, chunk_size=5)

    assert result == CatalogWriteResult(created=10, updated=0, unchanged=5)
    assert dump_catalog() == expected_catalog(15, 8)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_outside_a_transaction_postgres_writes_chunks_through_several_connections(on_postgres):
    reported: list[int] = []

    result = product_bulk_upsert_generated(count=50, seed=12, chunk_size=7, progress=reported.append)
    again = product_bulk_upsert_generated(count=50, seed=12, chunk_size=7)

    assert result == CatalogWriteResult(created=50, updated=0, unchanged=0)
    assert again == CatalogWriteResult(created=0, updated=0, unchanged=50)
    assert sorted(reported) == [1] + [7] * 7
    assert dump_catalog() == expected_catalog(50, 12)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_failing_connection_stops_the_parallel_write_and_raises(on_postgres, monkeypatch):
    original = writers_postgres.PostgresWriter.__call__
    calls = {"count": 0}
    lock = threading.Lock()

    def flaky(self, items, source):
        with lock:
            calls["count"] += 1
            failing = calls["count"] == 3
        if failing:
            raise RuntimeError("connection lost")
        return original(self, items, source)

    monkeypatch.setattr(writers_postgres.PostgresWriter, "__call__", flaky)
    threads_before = threading.active_count()

    with pytest.raises(RuntimeError, match="connection lost"):
        product_bulk_upsert_generated(count=100, seed=13, chunk_size=5)

    stored = Product.objects.count()
    assert stored % 5 == 0 and stored < 100  # whole chunks only, and the feeding stopped
    assert ReferenceCreative.objects.count() == stored * CREATIVES_PER_PRODUCT
    assert threading.active_count() == threads_before


def test_the_orm_writer_used_on_sqlite_stores_and_restores_the_shop_url():
    """Generation on SQLite goes through the ORM writer; the same rows as the PostgreSQL writers."""
    products = generate_catalog(6, seed=14)
    first = orm_write_chunk(products, Product.Source.GENERATED)
    Product.objects.filter(sku=products[0].sku).update(url="")

    again = orm_write_chunk(products, Product.Source.GENERATED)

    assert first == CatalogWriteResult(created=6, updated=0, unchanged=0)
    assert again == CatalogWriteResult(created=0, updated=1, unchanged=5)
    assert dump_catalog() == expected_catalog(6, 14)
    assert (
        Product.objects.get(sku=products[0].sku).url
        == f"https://shop.example.com/p/{products[0].sku.lower()}"
    )


def test_every_stored_generated_url_passes_the_models_own_validation():
    product_bulk_upsert_generated(count=30, seed=15)

    for product in Product.objects.all():
        product.full_clean()
        assert product.url.startswith("https://shop.example.com/p/")
