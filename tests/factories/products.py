"""Factories of the catalog: products with their reference creatives, dataset versions, and catalog
files to import.

`DatasetVersionFactory` makes rows only (no file: for tests that never read it);
`dataset_version_from_catalog` stores generated products and cuts a real dataset version through the
products services, so its file, checksum and statistics are exactly what production writes.
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import factory

from products.models import DatasetVersion, Product, ReferenceCreative, Tone

CATALOG_HEADER = [
    "sku",
    "title",
    "category",
    "brand",
    "description",
    "price",
    "rating",
    "url",
    "tone",
    "headline",
    "body",
    "cta",
]


class ProductFactory(factory.django.DjangoModelFactory):
    """A stored product; by default with one reference creative per tone (`creatives=[]` for none)."""

    class Meta:
        model = Product
        django_get_or_create = ("sku",)
        skip_postgeneration_save = True

    sku = factory.Sequence(lambda n: f"TEST-{n:06d}")
    title = factory.Sequence(lambda n: f"Northwind Trail 2-Person Tent No. {n}")
    category = "Outdoor"
    brand = "Northwind Trail"
    description = "Northwind Trail builds this tent from ripstop nylon with room for 2 people."
    price = Decimal("249.99")
    rating = Decimal("4.5")
    source = Product.Source.IMPORTED

    @factory.post_generation
    def creatives(self, create, extracted, **kwargs):
        if not create:
            return
        tones = Tone.values if extracted is None else extracted
        for tone in tones:
            ReferenceCreativeFactory(product=self, tone=tone)


class ReferenceCreativeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReferenceCreative

    product = factory.SubFactory(ProductFactory, creatives=[])
    tone = Tone.BOLD
    headline = factory.LazyAttribute(
        lambda creative: f"Meet the {creative.product.brand} tent ({creative.tone})"
    )
    body = "Room for 2 people and ripstop nylon that sheds rain."
    cta = "Shop now"


class DatasetVersionFactory(factory.django.DjangoModelFactory):
    """A dataset version row without a file (numbers far above what a test's snapshots reach)."""

    class Meta:
        model = DatasetVersion

    number = factory.Sequence(lambda n: 50_000 + n)
    file = factory.LazyAttribute(lambda version: f"datasets/v{version.number}.parquet")
    sha256 = factory.LazyAttribute(lambda version: f"{version.number:064x}")
    size_bytes = 4096
    row_count = 400
    product_count = 100
    split_counts = factory.LazyFunction(lambda: {"train": 80, "validation": 10, "test": 10})


def dataset_version_from_catalog(*, products: int = 100, seed: int = 11, note: str = "") -> DatasetVersion:
    """Store `products` generated products and cut a real training dataset version from them."""
    from products.services import dataset_version_create, product_bulk_upsert_generated

    product_bulk_upsert_generated(count=products, seed=seed)
    return dataset_version_create(trigger=DatasetVersion.Trigger.MANUAL, note=note)


def catalog_row(sku: str = "CSV-1", **overrides) -> dict:
    """One row of a catalog file in the import format, with a bold creative unless overridden."""
    row = {
        "sku": sku,
        "title": "Copper Hearth 10-Inch Cast Iron Skillet",
        "category": "Home & Kitchen",
        "brand": "Copper Hearth",
        "description": "A pre-seasoned cast iron skillet with a 10-inch cooking surface.",
        "price": "39.99",
        "rating": "4.6",
        "tone": "bold",
        "headline": "Sear Like You Mean It",
        "body": "The Copper Hearth skillet heats evenly from edge to edge.",
        "cta": "Shop now",
    }
    row.update(overrides)
    return row


def catalog_csv(rows: list[dict], *, header: list[str] | None = None, bom: bool = False) -> bytes:
    header = header or CATALOG_HEADER
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return ("\ufeff" if bom else "").encode("utf-8") + buffer.getvalue().encode("utf-8")


def catalog_json(products: list | dict) -> bytes:
    return json.dumps(products, indent=2).encode("utf-8")
