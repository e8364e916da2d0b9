"""Management commands of the catalog: generate, import, snapshot, benchmark."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from products.models import DatasetVersion, Product
from tests.factories.products import ProductFactory, catalog_csv, catalog_row

pytestmark = pytest.mark.django_db


def run(*args, **options) -> tuple[str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command(*args, stdout=stdout, stderr=stderr, **options)
    return stdout.getvalue(), stderr.getvalue()


def test_generate_products_shows_progress_and_prints_the_total():
    stdout, stderr = run("generate_products", "--count", "120", "--seed", "4")

    assert Product.objects.count() == 120
    assert "Stored 120 generated products (seed 4) in " in stdout
    assert stdout.rstrip().endswith("120 created, 0 updated, 0 unchanged.")
    assert "Storing products" in stderr and "120/120" in stderr

    again, _ = run("generate_products", "--count", "120", "--seed", "4", "--no-progress")
    assert again.rstrip().endswith("0 created, 0 updated, 120 unchanged.")
    assert Product.objects.count() == 120


def test_generate_products_refuses_a_negative_count():
    with pytest.raises(CommandError, match=r"^count must be 0 or more; got -3\.$"):
        run("generate_products", "--count", "-3", "--seed", "1")


def test_import_products_prints_the_report(tmp_path):
    path = tmp_path / "catalog.csv"
    path.write_bytes(catalog_csv([catalog_row("CMD-1"), catalog_row("CMD-2")]))

    stdout, _ = run("import_products", str(path))

    assert stdout.strip() == (
        "catalog.csv: 2 rows read, 0 rejected. Products were created: 2, updated: 0, unchanged: 0."
    )
    assert Product.objects.filter(source=Product.Source.IMPORTED).count() == 2


def test_import_products_lists_bad_rows_and_exits_non_zero(tmp_path):
    path = tmp_path / "catalog.csv"
    path.write_bytes(catalog_csv([catalog_row("CMD-1"), catalog_row("CMD-2", rating="7", tone="sad")]))
    stdout = io.StringIO()

    with pytest.raises(CommandError) as raised:
        call_command("import_products", str(path), stdout=stdout)

    assert str(raised.value) == "1 row rejected (listed above); the other rows were stored."
    assert stdout.getvalue().splitlines() == [
        "  line 3, rating: rating must be between 0 and 5; got 7.",
        "  line 3, tone: tone 'sad' is not one of bold, luxury, value, playful.",
        "catalog.csv: 2 rows read, 1 rejected. Products were created: 1, updated: 0, unchanged: 0.",
    ]
    assert list(Product.objects.values_list("sku", flat=True)) == ["CMD-1"]


def test_import_products_dry_run_stores_nothing(tmp_path):
    path = tmp_path / "catalog.json"
    path.write_text(
        '[{"sku": "J", "title": "t", "category": "c", "brand": "b", "description": "d", '
        '"price": "1.00", "rating": 4}]'
    )

    stdout, _ = run("import_products", str(path), "--dry-run")

    assert stdout.strip() == (
        "Dry run, nothing stored. catalog.json: 1 row read, 0 rejected. "
        "Products would be created: 1, updated: 0, unchanged: 0."
    )
    assert Product.objects.count() == 0


def test_import_products_file_level_errors(tmp_path):
    path = tmp_path / "catalog.csv"
    path.write_bytes(b"sku,title\nA,B\n")

    with pytest.raises(CommandError, match=r"^catalog\.csv is missing required columns: category, brand"):
        run("import_products", str(path))
    with pytest.raises(CommandError, match=r"does not exist or is not a file\.$"):
        run("import_products", str(tmp_path / "nope.csv"))


def test_import_products_refuses_deeply_nested_json_without_a_traceback(tmp_path):
    path = tmp_path / "deep.json"
    path.write_bytes(b'{"products": ' + b"[" * 10_000 + b"]" * 10_000 + b"}")

    with pytest.raises(CommandError) as raised:
        run("import_products", str(path))

    assert str(raised.value) == (
        "deep.json is not read: JSON arrays and objects are nested more than 32 levels deep; the limit is 32."
    )


def test_snapshot_dataset_prints_the_new_version():
    ProductFactory.create_batch(3)
    ProductFactory(creatives=[])

    stdout, _ = run("snapshot_dataset", "--note", "before the holidays")

    version = DatasetVersion.objects.get()
    assert stdout.splitlines()[0] == f"Dataset version 1: 13 rows, 4 products, sha256 {version.sha256}"
    assert version.note == "before the holidays"
    second, _ = run("snapshot_dataset")
    assert second.startswith("Dataset version 2: 13 rows, 4 products, sha256 ")


def test_snapshot_dataset_golden_is_idempotent(settings):
    settings.CREATIVEOPS = {**settings.CREATIVEOPS, "GOLDEN_SET_SEED": 3, "GOLDEN_SET_SIZE": 5}

    first, _ = run("snapshot_dataset", "--golden")
    second, _ = run("snapshot_dataset", "--golden")

    assert first.startswith("Dataset version 1: 60 rows, 5 products, sha256 ")  # 12 creatives each
    assert (
        second.splitlines()[0] == "The golden set for this seed and size already exists (it never changes)."
    )
    assert DatasetVersion.objects.count() == 1


def test_snapshot_dataset_of_an_empty_catalog_fails_clearly():
    with pytest.raises(CommandError, match=r"^The catalog is empty: generate or import products"):
        run("snapshot_dataset")


def test_benchmark_catalog_reports_every_figure():
    stdout, _ = run("benchmark_catalog", "--count", "300", "--seed", "5")

    lines = stdout.splitlines()
    assert lines[0].startswith("Database: ")
    assert lines[1].startswith("generate only")
    assert lines[2].startswith("generate + insert (empty catalog)") and "target >= 20,000/s" in lines[2]
    assert lines[3].startswith("re-run, same seed (nothing changes)")
    assert lines[4].startswith("snapshot (dataset version 1)") and "3,600 rows, 300 products" in lines[4]
    assert lines[5].startswith("read back (SHA-256 verified)") and lines[5].endswith("3,600 rows")
    assert Product.objects.count() == 300


def test_benchmark_catalog_refuses_a_non_empty_catalog_without_reset():
    ProductFactory()

    with pytest.raises(CommandError, match=r"^The catalog is not empty"):
        run("benchmark_catalog", "--count", "10")

    stdout, _ = run("benchmark_catalog", "--count", "10", "--reset")
    assert stdout.startswith("Deleted every product (--reset).")
    assert Product.objects.count() == 10
