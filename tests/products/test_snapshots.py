"""Dataset versions: numbering, the file and its SHA-256, immutability, split, statistics, golden set."""

from __future__ import annotations

import hashlib
import threading
from decimal import Decimal

import pandas as pd
import pytest
from django.core.files.storage import default_storage
from django.db import connection

from creativeops.core.errors import ApplicationError
from products import dataset_stats
from products.generator import CHANNELS, TONES, generate_catalog
from products.models import DatasetVersion, Product
from products.services import (
    SNAPSHOT_COLUMNS,
    dataset_version_create,
    dataset_version_create_golden,
    dataset_version_read,
    generated_catalog_frame,
    product_bulk_upsert_generated,
    split_for_sku,
)
from tests.factories.products import ProductFactory

pytestmark = pytest.mark.django_db

MANUAL = DatasetVersion.Trigger.MANUAL
PER_PRODUCT = len(TONES) * len(CHANNELS)  # a generated product's creatives: one per tone and channel


def stored_bytes(version: DatasetVersion) -> bytes:
    with default_storage.open(version.file, "rb") as handle:
        return handle.read()


def test_first_snapshots_are_numbered_1_and_2_with_new_files(operator_user):
    product_bulk_upsert_generated(count=30, seed=1)

    first = dataset_version_create(trigger=MANUAL, actor=operator_user, note="first cut")
    first_bytes = stored_bytes(first)
    product_bulk_upsert_generated(count=40, seed=1)
    second = dataset_version_create(trigger=DatasetVersion.Trigger.PIPELINE)

    assert (first.number, second.number) == (1, 2)
    assert first.file == f"datasets/v1-{first.sha256[:12]}.parquet"
    assert second.file == f"datasets/v2-{second.sha256[:12]}.parquet"
    assert (first.product_count, first.row_count, second.product_count, second.row_count) == (
        30,
        30 * PER_PRODUCT,
        40,
        40 * PER_PRODUCT,
    )
    assert (first.created_by, first.note, first.trigger, first.kind) == (
        operator_user,
        "first cut",
        MANUAL,
        "training",
    )
    assert second.created_by is None
    # v1 is never rewritten by v2.
    assert stored_bytes(first) == first_bytes
    assert hashlib.sha256(first_bytes).hexdigest() == first.sha256


def test_file_sha256_and_size_match_the_record_and_the_content_matches_the_catalog():
    product_bulk_upsert_generated(count=12, seed=2)
    ProductFactory(sku="AAA-NO-CREATIVES", creatives=[], price=Decimal("10.00"), rating=Decimal("3.0"))

    version = dataset_version_create(trigger=MANUAL)
    payload = stored_bytes(version)
    frame = dataset_version_read(version=version)

    assert hashlib.sha256(payload).hexdigest() == version.sha256
    assert len(payload) == version.size_bytes
    assert list(frame.columns) == list(SNAPSHOT_COLUMNS)
    assert (len(frame), version.row_count, version.product_count) == (12 * PER_PRODUCT + 1,) * 2 + (13,)
    assert list(frame["sku"]) == sorted(frame["sku"])
    bare = frame[frame["sku"] == "AAA-NO-CREATIVES"].iloc[0]
    assert (bare["price"], bare["rating"], bare["split"]) == (10.0, 3.0, split_for_sku("AAA-NO-CREATIVES"))
    assert all(pd.isna(bare[name]) for name in ("tone", "headline", "body", "cta"))
    assert bare["channel"] == "generic"  # never null: a row without a creative reads as generic
    product = generate_catalog(12, 2)[0]
    rows = frame[frame["sku"] == product.sku]
    assert list(zip(rows["channel"], rows["tone"], strict=True)) == sorted(
        (creative.channel, creative.tone) for creative in product.creatives
    )  # the file's order within a product: channel, then tone
    bold = rows[(rows["tone"] == "bold") & (rows["channel"] == "generic")].iloc[0]
    expected_bold = next(creative for creative in product.creatives if creative.tone == "bold")
    assert (bold["title"], bold["brand"], bold["price"]) == (
        product.title,
        product.brand,
        float(product.price),
    )
    assert (bold["headline"], bold["body"], bold["cta"]) == (
        expected_bold.headline,
        expected_bold.body,
        expected_bold.cta,
    )


def test_a_changed_byte_makes_read_refuse_with_both_checksums():
    product_bulk_upsert_generated(count=5, seed=3)
    version = dataset_version_create(trigger=MANUAL)
    payload = bytearray(stored_bytes(version))
    payload[len(payload) // 2] ^= 0xFF
    path = default_storage.path(version.file)
    with open(path, "wb") as handle:
        handle.write(payload)
    actual = hashlib.sha256(payload).hexdigest()

    with pytest.raises(ApplicationError) as raised:
        dataset_version_read(version=version)

    assert raised.value.message == (
        f"Dataset v1 file {version.file} has SHA-256 {actual} but v1 recorded {version.sha256}; "
        "refusing to read a changed file."
    )


def test_a_missing_file_makes_read_refuse():
    product_bulk_upsert_generated(count=5, seed=3)
    version = dataset_version_create(trigger=MANUAL)
    default_storage.delete(version.file)

    with pytest.raises(ApplicationError) as raised:
        dataset_version_read(version=version)

    assert raised.value.message == (
        f"Dataset v1 file {version.file} is missing from artifact storage; v1 recorded SHA-256 "
        f"{version.sha256}. Cut a new dataset version instead."
    )


def test_an_unchanged_catalog_gives_the_same_sha_but_a_new_version_and_file():
    product_bulk_upsert_generated(count=8, seed=4)

    first = dataset_version_create(trigger=MANUAL)
    second = dataset_version_create(trigger=MANUAL)

    assert first.sha256 == second.sha256
    assert (first.number, second.number) == (1, 2)
    assert first.file != second.file
    assert default_storage.exists(first.file) and default_storage.exists(second.file)


def test_a_taken_file_name_is_never_overwritten():
    product_bulk_upsert_generated(count=8, seed=4)
    first = dataset_version_create(trigger=MANUAL)
    DatasetVersion.objects.filter(pk=first.pk).delete()  # as if v1's row were lost but its file kept
    squatter = stored_bytes(first)

    again = dataset_version_create(trigger=MANUAL)

    assert again.number == 1
    assert again.file != first.file
    assert stored_bytes(first) == squatter


def test_the_empty_catalog_cannot_be_snapshotted():
    with pytest.raises(ApplicationError) as raised:
        dataset_version_create(trigger=MANUAL)

    assert raised.value.message == (
        "The catalog is empty: generate or import products before cutting a dataset version."
    )
    assert DatasetVersion.objects.count() == 0


def test_split_is_stable_per_sku_across_versions_and_close_to_80_10_10():
    product_bulk_upsert_generated(count=200, seed=5)
    first = dataset_version_read(version=dataset_version_create(trigger=MANUAL))
    product_bulk_upsert_generated(count=400, seed=5)
    second = dataset_version_read(version=dataset_version_create(trigger=MANUAL))

    first_split = dict(zip(first["sku"], first["split"], strict=True))
    second_split = dict(zip(second["sku"], second["split"], strict=True))
    assert all(second_split[sku] == split for sku, split in first_split.items())
    assert all(split == split_for_sku(sku) for sku, split in second_split.items())
    shares = pd.Series(second_split).value_counts(normalize=True)
    assert 0.72 < shares["train"] < 0.88
    assert 0.05 < shares["validation"] < 0.15
    assert 0.05 < shares["test"] < 0.15


def test_split_for_sku_is_a_fixed_function_of_the_sku():
    # Pinned: the split must never change between releases, or evaluation data leaks into training.
    assert [split_for_sku(f"SKU-{index}") for index in range(8)] == [
        split_for_sku(f"SKU-{index}") for index in range(8)
    ]
    bucket = int.from_bytes(hashlib.sha256(b"SKU-1").digest()[:8], "big") % 100
    assert split_for_sku("SKU-1") == ("train" if bucket < 80 else "validation" if bucket < 90 else "test")


def test_statistics_are_complete_and_sane():
    product_bulk_upsert_generated(count=300, seed=6)
    ProductFactory(sku="ZZ-EXPENSIVE", price=Decimal("1500.00"), creatives=[])

    version = dataset_version_create(trigger=MANUAL)
    statistics = version.statistics

    assert set(statistics) >= {
        "schema", "rows", "products", "creatives", "split_counts", "category_shares", "brand_count", "price",
        "rating", "title_length", "description_length", "headline_length", "tone_shares", "brands",
        "vocabulary",
    }  # fmt: skip
    assert (statistics["rows"], statistics["products"], statistics["creatives"]) == (
        300 * PER_PRODUCT + 1,
        301,
        300 * PER_PRODUCT,
    )
    assert statistics["channel_counts"] == {channel: 300 * len(TONES) for channel in CHANNELS}
    assert version.split_counts == statistics["split_counts"]
    assert sum(version.split_counts.values()) == 301
    assert sum(statistics["category_shares"].values()) == pytest.approx(1, abs=1e-4)
    assert statistics["tone_shares"] == {"bold": 0.25, "luxury": 0.25, "playful": 0.25, "value": 0.25}
    assert statistics["brand_count"] == Product.objects.values("brand").distinct().count()
    assert statistics["brands"]["names"] == sorted(set(Product.objects.values_list("brand", flat=True)))
    vocabulary = statistics["vocabulary"]
    assert vocabulary["sampled_products"] == 301 and len(vocabulary["words"]) == vocabulary["distinct"]
    expected_words = set()
    for title, description in Product.objects.values_list("title", "description"):
        expected_words.update(dataset_stats.word_counts([title, description]))
    assert vocabulary["words"] == sorted(expected_words)
    price = statistics["price"]
    quantiles = price["quantiles"]
    assert list(quantiles) == ["p5", "p25", "p50", "p75", "p95"]
    assert price["min"] <= quantiles["p5"] <= quantiles["p50"] <= quantiles["p95"] <= price["max"] == 1500.0
    edges = [(bucket["lower"], bucket["upper"]) for bucket in price["buckets"]]
    assert edges == [
        (0, 10),
        (10, 25),
        (25, 50),
        (50, 100),
        (100, 250),
        (250, 500),
        (500, 1000),
        (1000, None),
    ]
    assert sum(bucket["share"] for bucket in price["buckets"]) == pytest.approx(1, abs=1e-4)
    assert price["buckets"][-1]["share"] == pytest.approx(1 / 301, abs=1e-5)
    for key in ("title_length", "description_length", "headline_length"):
        lengths = statistics[key]
        assert lengths["mean"] > 0 and lengths["p50"] <= lengths["p95"]
        assert sum(bucket["share"] for bucket in lengths["buckets"]) == pytest.approx(1, abs=1e-4)


def test_golden_set_comes_from_the_generator_all_test_and_is_idempotent(settings):
    settings.CREATIVEOPS = {**settings.CREATIVEOPS, "GOLDEN_SET_SEED": 77, "GOLDEN_SET_SIZE": 15}
    product_bulk_upsert_generated(count=5, seed=1)

    golden = dataset_version_create_golden()
    again = dataset_version_create_golden(seed=77, size=15)
    other = dataset_version_create_golden(seed=77, size=16)
    frame = dataset_version_read(version=golden)

    assert again.pk == golden.pk
    assert other.pk != golden.pk and other.number == 2
    assert (golden.kind, golden.number, golden.product_count, golden.row_count) == (
        "golden",
        1,
        15,
        15 * PER_PRODUCT,
    )
    assert frame.groupby("channel").size().to_dict() == {channel: 15 * len(TONES) for channel in CHANNELS}
    assert golden.statistics["golden"] == {"seed": 77, "size": 15}
    assert golden.split_counts == {"train": 0, "validation": 0, "test": 15}
    assert set(frame["split"]) == {"test"}
    assert set(frame["sku"]) == {product.sku for product in generate_catalog(15, 77)}
    assert Product.objects.count() == 5  # never stored as products


def test_create_with_kind_golden_delegates_to_the_golden_set(settings):
    settings.CREATIVEOPS = {**settings.CREATIVEOPS, "GOLDEN_SET_SEED": 5, "GOLDEN_SET_SIZE": 4}

    version = dataset_version_create(trigger=MANUAL, kind=DatasetVersion.Kind.GOLDEN)

    assert (version.kind, version.product_count) == ("golden", 4)


def test_the_portable_reader_and_the_postgres_reader_agree(on_postgres):
    from products.services import snapshots

    product_bulk_upsert_generated(count=20, seed=9)
    ProductFactory(sku="P-1", creatives=["value"], title='Quotes "and", commas\nand newlines')

    fast_products, fast_creatives = snapshots._catalog_tables()
    table = snapshots._catalog_table_portable()
    assert table.num_rows == fast_products.num_rows + fast_creatives.num_rows
    portable_products = table.filter(table["kind"].to_numpy(zero_copy_only=False) == "p")
    assert sorted(portable_products["title"].to_pylist()) == sorted(fast_products["title"].to_pylist())


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_concurrent_snapshots_on_postgres_get_numbers_1_and_2(on_postgres):
    product_bulk_upsert_generated(count=50, seed=10)
    barrier = threading.Barrier(2)
    numbers: list[int] = []
    errors: list[BaseException] = []

    def snapshot():
        try:
            barrier.wait(timeout=10)
            numbers.append(dataset_version_create(trigger=MANUAL).number)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=snapshot) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sorted(numbers) == [1, 2]
    versions = list(DatasetVersion.objects.order_by("number"))
    assert [version.number for version in versions] == [1, 2]
    assert versions[0].file != versions[1].file
    for version in versions:
        assert len(dataset_version_read(version=version)) == 50 * PER_PRODUCT


def test_the_stored_catalog_and_the_generated_frame_give_the_same_creative_rows_with_their_channel():
    """Both snapshot paths (the catalog tables and the generator without the database, which the
    golden set and the benchmarks use) write the channel column, and agree on every row."""
    product_bulk_upsert_generated(count=20, seed=16)

    stored = dataset_version_read(version=dataset_version_create(trigger=MANUAL))
    generated = generated_catalog_frame(20, 16)

    assert list(generated.columns) == list(stored.columns) == list(SNAPSHOT_COLUMNS)
    assert stored["channel"].notna().all() and set(stored["channel"]) == set(CHANNELS)
    order = ["sku", "channel", "tone"]
    assert stored.equals(generated.sort_values(order, ignore_index=True))
    assert list(stored[order].itertuples(index=False)) == sorted(stored[order].itertuples(index=False))


def test_a_creative_stored_without_a_channel_is_generic_in_the_snapshot():
    """Rows written before channels existed (or by SQL that does not name the column) are generic."""
    product = ProductFactory(sku="OLD-1", creatives=[])
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO products_referencecreative (product_id, tone, headline, body, cta) "
            "VALUES (%s, 'bold', 'Old headline', 'Old body.', 'Shop now')",
            [product.pk],
        )

    frame = dataset_version_read(version=dataset_version_create(trigger=MANUAL))

    assert list(frame[["tone", "channel", "headline"]].itertuples(index=False, name=None)) == [
        ("bold", "generic", "Old headline")
    ]
