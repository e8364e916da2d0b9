"""Writing products with their reference creatives through the ORM: one plan per batch, then upserts.

Used by the importer on every database and by generation on SQLite. A plan compares a batch with the
database (two queries, whatever the batch size) and says which products are new, changed or
unchanged; applying it upserts by sku and by (product, tone, channel) with
`bulk_create(update_conflicts=True)`, which is safe against a concurrent writer of the same skus.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from django.utils import timezone

from products.models import Product, ReferenceCreative

PRODUCT_FIELDS: tuple[str, ...] = ("title", "category", "brand", "description", "price", "rating", "url")
CREATIVE_FIELDS: tuple[str, ...] = ("headline", "body", "cta")


class CreativeLike(Protocol):
    tone: str
    channel: str
    headline: str
    body: str
    cta: str


class ProductLike(Protocol):
    """What a writer needs of a product: `GeneratedProduct` and the importer's rows both fit."""

    sku: str
    title: str
    category: str
    brand: str
    description: str
    price: Decimal
    rating: Decimal
    url: str | None  # None (an import without a url column): keep the stored URL
    creatives: Sequence[CreativeLike]


@dataclass(frozen=True)
class CatalogWriteResult:
    """Products written, by outcome. `updated` counts a product whose row or any creative changed."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged

    def __add__(self, other: CatalogWriteResult) -> CatalogWriteResult:
        return CatalogWriteResult(
            self.created + other.created, self.updated + other.updated, self.unchanged + other.unchanged
        )


@dataclass(frozen=True)
class CatalogPlan:
    """What writing a batch would do, computed before anything is written (also the dry run)."""

    products: list[Product]
    creatives: list[tuple[str, ReferenceCreative]]
    result: CatalogWriteResult
    outcomes: dict[str, str]


def catalog_plan(items: Sequence[ProductLike], source: str) -> CatalogPlan:
    """Compare a batch with the database: which products are new, changed or unchanged.

    Two queries per batch (products, then their creatives), whatever the batch size.
    """
    existing = Product.objects.in_bulk([item.sku for item in items], field_name="sku")
    stored_creatives = {
        (creative.product_id, creative.tone, creative.channel): creative
        for creative in ReferenceCreative.objects.filter(product__in=existing.values())
    }
    to_write: list[Product] = []
    creatives_to_write: list[tuple[str, ReferenceCreative]] = []
    outcomes: dict[str, str] = {}
    for item in items:
        product = existing.get(item.sku)
        values = _product_values(item, product)
        row_changed = product is None or _product_differs(product, values, source)
        if row_changed:
            to_write.append(Product(sku=item.sku, source=source, **values))
        creatives_changed = False
        for creative in item.creatives:
            stored = stored_creatives.get((product.pk, creative.tone, creative.channel)) if product else None
            if stored is None or any(getattr(stored, f) != getattr(creative, f) for f in CREATIVE_FIELDS):
                creatives_changed = True
                creatives_to_write.append((item.sku, _new_creative(creative)))
        if product is None:
            outcomes[item.sku] = "created"
        elif row_changed or creatives_changed:
            outcomes[item.sku] = "updated"
        else:
            outcomes[item.sku] = "unchanged"
    outcome_list = list(outcomes.values())
    result = CatalogWriteResult(
        outcome_list.count("created"), outcome_list.count("updated"), outcome_list.count("unchanged")
    )
    return CatalogPlan(to_write, creatives_to_write, result, outcomes)


def catalog_plan_apply(plan: CatalogPlan) -> None:
    """Write a plan: upserts keyed by sku and (product, tone, channel), safe against a concurrent
    writer."""
    now = timezone.now()
    for product in plan.products:
        product.created_at = product.updated_at = now
    Product.objects.bulk_create(
        plan.products,
        update_conflicts=True,
        unique_fields=["sku"],
        update_fields=[*PRODUCT_FIELDS, "source", "updated_at"],
        batch_size=1000,
    )
    if not plan.creatives:
        return
    skus = {sku for sku, _ in plan.creatives}
    ids = dict(Product.objects.filter(sku__in=skus).values_list("sku", "id"))
    creatives = []
    for sku, creative in plan.creatives:
        creative.product_id = ids[sku]
        creatives.append(creative)
    ReferenceCreative.objects.bulk_create(
        creatives,
        update_conflicts=True,
        unique_fields=["product", "tone", "channel"],
        update_fields=list(CREATIVE_FIELDS),
        batch_size=1000,
    )


def orm_write_chunk(items: Sequence[ProductLike], source: str) -> CatalogWriteResult:
    plan = catalog_plan(items, source)
    catalog_plan_apply(plan)
    return plan.result


def _product_values(item: ProductLike, stored: Product | None) -> dict:
    values = {field: getattr(item, field) for field in PRODUCT_FIELDS}
    if values["url"] is None:
        values["url"] = stored.url if stored is not None else ""
    return values


def _product_differs(product: Product, values: dict, source: str) -> bool:
    return product.source != source or any(getattr(product, f) != values[f] for f in PRODUCT_FIELDS)


def _new_creative(creative: CreativeLike) -> ReferenceCreative:
    return ReferenceCreative(
        tone=creative.tone,
        channel=creative.channel,
        **{field: getattr(creative, field) for field in CREATIVE_FIELDS},
    )
