"""The out-of-distribution evaluation set: the fixture, its dataset version, never trained on."""

from __future__ import annotations

import io
import json
import re
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from creativeops.core.errors import ApplicationError
from products.generator import CATEGORIES, VOCABULARY
from products.models import DatasetVersion, Product
from products.ood import NOVELTIES, OOD_FIXTURE_PATH, UNSEEN_BRAND, UNSEEN_CATEGORY, load_ood_products
from products.services import (
    OOD_EXTRA_COLUMNS,
    SNAPSHOT_COLUMNS,
    dataset_version_create,
    dataset_version_create_ood,
    dataset_version_read,
    products_import,
)
from products.services.imports import products_validate
from tests.factories.products import ProductFactory
from training.ml.metrics import FactChecker
from training.services import training_run_create

pytestmark = pytest.mark.django_db


def _fixture_items() -> list[dict]:
    return json.loads(OOD_FIXTURE_PATH.read_bytes())["products"]


def _write_fixture(tmp_path, items: list[dict], name: str = "ood.json"):
    path = tmp_path / name
    path.write_text(json.dumps({"products": items}), encoding="utf-8")
    return path


# --- the fixture ----------------------------------------------------------------------------------


def test_the_fixture_loads_every_row_through_the_import_validation():
    products = load_ood_products()
    with OOD_FIXTURE_PATH.open("rb") as handle:
        imported, issues = products_validate(file=handle, filename=OOD_FIXTURE_PATH.name)

    assert issues == []
    assert len(products) == len(imported) == len(_fixture_items())
    assert [product.sku for product in products] == [product.sku for product in imported]
    assert all(product.sku.startswith("OOD-") for product in products)
    assert all(isinstance(product.price, Decimal) and product.price > 0 for product in products)


def test_the_fixture_holds_200_products_of_15_categories_the_generator_never_writes():
    products = load_ood_products()
    unseen = [product for product in products if product.novelty == UNSEEN_CATEGORY]
    unseen_brand = [product for product in products if product.novelty == UNSEEN_BRAND]

    assert len(unseen) >= 200
    assert len({product.category for product in unseen}) >= 15
    assert not {product.category for product in unseen} & set(CATEGORIES)
    assert unseen_brand and {product.category for product in unseen_brand} <= set(CATEGORIES)
    assert {product.novelty for product in products} == set(NOVELTIES)


CHECKER = FactChecker(VOCABULARY.all_brands)  # the one fact checker (training.ml.metrics)


def test_no_brand_of_the_generator_appears_anywhere_in_the_set():
    generator_brands = {brand.casefold() for brand in VOCABULARY.all_brands}
    for product in load_ood_products():
        assert product.brand.casefold() not in generator_brands, product.sku
        text = f"{product.title}\n{product.description}\n{product.brand}"
        assert CHECKER.foreign_brands(text, source="") == [], (
            product.sku
        )  # with no source, any brand is foreign


def test_each_product_names_its_own_brand_and_noun_and_no_other_brand_of_the_set():
    """What an own-fact and a foreign-brand check on this set rely on: a creative that copies its
    product's text can name its brand and noun, and can never name another brand of the set."""
    products = load_ood_products()
    brands = sorted({product.brand for product in products})
    for product in products:
        text = f"{product.title}\n{product.description}"
        assert product.brand.casefold() in text.casefold(), product.sku
        assert re.search(rf"(?<!\w){re.escape(product.noun)}", text, re.IGNORECASE), product.sku
        others = [
            brand
            for brand in brands
            if brand != product.brand and re.search(rf"(?<!\w){re.escape(brand)}(?!\w)", text, re.IGNORECASE)
        ]
        assert others == [], product.sku


def test_a_row_an_import_would_reject_makes_the_load_fail_naming_it(tmp_path):
    items = _fixture_items()[:3]
    items[1] = {**items[1], "price": "12.345"}
    path = _write_fixture(tmp_path, items)

    with pytest.raises(ApplicationError) as caught:
        load_ood_products(path=path)

    assert caught.value.message == (
        "ood.json is not a valid out-of-distribution set: line 1, item 2 (sku 'OOD-MUS-002'), price: "
        "price '12.345' has more than 2 decimal places."
    )


def test_a_row_without_its_evaluation_keys_makes_the_load_fail_naming_them(tmp_path):
    items = _fixture_items()[:2]
    items[0] = {**items[0], "sku": "X-1", "noun": "harpsichord", "novelty": "new"}
    path = _write_fixture(tmp_path, items)

    with pytest.raises(ApplicationError) as caught:
        load_ood_products(path=path)

    assert caught.value.message == (
        "ood.json is not a valid out-of-distribution set: line 1, sku: 'X-1' must start with 'OOD-'. "
        "line 1, novelty: 'new' is not one of unseen_category, unseen_brand. line 1, noun: 'harpsichord' "
        "must be named in the product's title or description."
    )


def test_the_catalog_import_refuses_the_sets_skus_so_they_never_reach_a_training_snapshot():
    with OOD_FIXTURE_PATH.open("rb") as handle:
        report = products_import(file=handle, filename=OOD_FIXTURE_PATH.name)

    assert (report.rows, report.rejected_rows, report.created) == (len(_fixture_items()), report.rows, 0)
    assert str(report.errors[0]) == (
        "line 3, item 1 (sku 'OOD-MUS-001'), sku: sku 'OOD-MUS-001' starts with 'OOD-', the prefix of "
        "the out-of-distribution "
        "evaluation set, which is never trained on; import that set with manage.py import_ood_set."
    )
    assert Product.objects.count() == 0


# --- the dataset version ----------------------------------------------------------------------------


def test_the_set_is_its_own_dataset_version_once_per_fixture():
    products = load_ood_products()

    version = dataset_version_create_ood()
    again = dataset_version_create(kind=DatasetVersion.Kind.OOD, trigger=DatasetVersion.Trigger.MANUAL)
    frame = dataset_version_read(version=version)

    assert again.pk == version.pk and DatasetVersion.objects.count() == 1
    assert (version.kind, version.product_count) == ("ood", len(products))
    assert version.row_count == 4 * len(products)
    assert version.split_counts == {"train": 0, "validation": 0, "test": len(products)}
    assert version.statistics["ood"]["fixture"] == "ood_products.json"
    assert sum(version.statistics["ood"]["novelty_counts"].values()) == len(products)
    assert list(frame.columns) == [*SNAPSHOT_COLUMNS, *OOD_EXTRA_COLUMNS]
    assert sorted(frame["sku"].unique()) == sorted(product.sku for product in products)
    by_sku = {product.sku: product for product in products}
    for row in frame.itertuples():
        product = by_sku[row.sku]
        assert (row.brand, row.category, row.noun, row.novelty) == (
            product.brand,
            product.category,
            product.noun,
            product.novelty,
        )
        assert row.price == float(product.price) and row.split == "test"
    assert frame.groupby("sku")["tone"].apply(sorted).map(tuple).unique().tolist() == [
        ("bold", "luxury", "playful", "value")
    ]
    assert frame[["headline", "body", "cta"]].isna().all().all()
    assert Product.objects.count() == 0


def test_a_changed_fixture_is_a_new_version(tmp_path):
    items = _fixture_items()
    first = dataset_version_create_ood(path=_write_fixture(tmp_path, items[:5], "a.json"))
    second = dataset_version_create_ood(path=_write_fixture(tmp_path, items[:6], "b.json"))

    assert (first.number, first.product_count, second.number, second.product_count) == (1, 5, 2, 6)


def test_the_set_is_never_in_a_training_snapshot_and_cannot_be_trained_on(operator_user):
    ProductFactory(sku="CAT-1")
    ood = dataset_version_create_ood()
    training = dataset_version_create(trigger=DatasetVersion.Trigger.MANUAL)
    frame = dataset_version_read(version=training)

    assert frame["sku"].unique().tolist() == ["CAT-1"]
    ood_brands = {product.brand for product in load_ood_products()}
    assert not set(training.statistics["brands"]["names"]) & ood_brands
    with pytest.raises(ApplicationError) as caught:
        training_run_create(dataset_version=ood, preset="tiny", trigger="manual", actor=operator_user)
    assert caught.value.message == (
        f"Dataset v{ood.number} is a Out-of-distribution evaluation set (never trained on); train on a "
        "training snapshot of the catalog."
    )


# --- the command --------------------------------------------------------------------------------------


def test_import_ood_set_writes_the_version_once():
    first, second = io.StringIO(), io.StringIO()
    call_command("import_ood_set", stdout=first)
    call_command("import_ood_set", stdout=second)

    version = DatasetVersion.objects.get()
    counts = version.statistics["ood"]["novelty_counts"]
    assert first.getvalue().splitlines() == [
        f"Dataset version 1 (ood): {version.product_count:,} products ({counts['unseen_brand']} "
        f"unseen_brand, {counts['unseen_category']} unseen_category), {version.row_count:,} rows, "
        f"sha256 {version.sha256}"
    ]
    assert second.getvalue().splitlines()[0] == "Dataset version 1 already holds this fixture (same SHA-256)."


def test_import_ood_set_refuses_a_missing_file(tmp_path):
    with pytest.raises(CommandError, match=r"does not exist or is not a file\.$"):
        call_command("import_ood_set", "--file", str(tmp_path / "none.json"))


def test_the_admin_page_of_the_version_says_what_the_set_is(client, operator_user):
    client.force_login(operator_user)
    version = dataset_version_create_ood()
    counts = version.statistics["ood"]["novelty_counts"]

    response = client.get(f"/admin/products/datasetversion/{version.pk}/change/")

    assert response.status_code == 200
    assert (
        f"Out-of-distribution evaluation set from ood_products.json (SHA-256 "
        f"{version.statistics['ood']['fixture_sha256'][:16]}…): {counts['unseen_brand']} unseen_brand, "
        f"{counts['unseen_category']} unseen_category; every row in the test split, no reference copy."
    ) in response.content.decode()
