"""Read queries behind the marketers' pages: the creatives list, its CSV exports and the product page.

"Current" creatives are one per (product, tone) of one model version (see `latest_creatives`): a
product that was regenerated three times in the bold tone still shows one bold row, the newest.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from itertools import groupby

from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Q, QuerySet
from django.utils.functional import cached_property

from inference.models import AssetSet, Creative
from inference.search import creative_search_condition
from products.models import Product, Tone
from registry import selectors as registry_selectors
from registry.models import ModelVersion
from training.ml.channels import CHANNELS

SORTS: dict[str, tuple[str, tuple[str, ...]]] = {
    # key: (label, order_by); every ordering ends on the primary key so pages never overlap.
    "title": ("Title A–Z", ("product__title", "product__sku", "tone", "id")),
    "price": ("Price, low to high", ("product__price", "product__sku", "tone", "id")),
    "-price": ("Price, high to low", ("-product__price", "product__sku", "tone", "id")),
    "newest": ("Newest first", ("-created_at", "-id")),
}
DEFAULT_SORT = "title"
# The same orders for asset sets (one per product and channel), for the ad-platform exports.
ASSET_SET_SORTS: dict[str, tuple[str, ...]] = {
    "title": ("product__title", "product__sku", "id"),
    "price": ("product__price", "product__sku", "id"),
    "-price": ("-product__price", "product__sku", "id"),
    "newest": ("-created_at", "-id"),
}

EXPORT_COLUMNS = (
    "sku",
    "title",
    "category",
    "brand",
    "price",
    "tone",
    "headline",
    "body",
    "cta",
    "model_version",
    "created_at",
)
# Cells a spreadsheet would read as a formula (OWASP "CSV injection"): tab and carriage return too.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
HISTORY_LIMIT = 200


@dataclass(frozen=True)
class CreativeFilters:
    """What a marketer asked for, already validated (see `inference.pages.forms.CreativeFilterForm`)."""

    search: str = ""
    category: str = ""
    tone: str = ""
    brand: str = ""
    price_min: Decimal | None = None
    price_max: Decimal | None = None
    sort: str = DEFAULT_SORT


def model_versions_for_filter(*, model_name: str | None = None) -> list[ModelVersion]:
    """The versions a marketer may browse: those that are or were served (never rejected ones)."""
    return list(
        ModelVersion.objects.for_name(model_name or registry_selectors.default_model_name())
        .exclude(status=ModelVersion.Status.REJECTED)
        .only("id", "name", "version", "status")
        .order_by("-version")
    )


def latest_creatives(*, model_version: ModelVersion) -> QuerySet[Creative]:
    """The current creative per (product, tone) of `model_version`: the newest one a person asked for
    (regenerate, API), else the one the catalog refresh wrote. `creatives_store` decides which when it
    writes (`Creative.is_current`), so reading it is one indexed condition, not a subquery per row."""
    return Creative.objects.current().filter(model_version=model_version)


def creative_list(*, model_version: ModelVersion, filters: CreativeFilters) -> QuerySet[Creative]:
    """The rows of the creatives page and of its CSV export, products joined. Every row belongs to
    `model_version`, so its row is not joined (it would widen every sorted tuple for nothing)."""
    queryset = latest_creatives(model_version=model_version).select_related("product")
    queryset = queryset.filter(_product_condition(filters))
    if filters.tone:
        queryset = queryset.filter(tone=filters.tone)
    if filters.search:
        queryset = queryset.filter(
            creative_search_condition(text=filters.search, model_version=model_version)
        )
    _, order_by = SORTS.get(filters.sort, SORTS[DEFAULT_SORT])
    return queryset.order_by(*order_by)


def _product_condition(filters: CreativeFilters) -> Q:
    """The filters on the product's own columns, for a row with a `product` relation."""
    condition = Q()
    if filters.category:
        condition &= Q(product__category=filters.category)
    if filters.brand:
        condition &= Q(product__brand__iexact=filters.brand)
    if filters.price_min is not None:
        condition &= Q(product__price__gte=filters.price_min)
    if filters.price_max is not None:
        condition &= Q(product__price__lte=filters.price_max)
    return condition


def asset_set_list(
    *, model_version: ModelVersion, channel: str, filters: CreativeFilters
) -> QuerySet[AssetSet]:
    """The `channel` asset sets `model_version` wrote for the products the creatives page lists with
    `filters`, products joined, in the page's order: what the ad-platform exports read.

    The product's own columns are filtered on directly; the tone and the search are conditions on the
    creatives, so they select the products that have a listed creative (one semi-join), exactly the
    products of the page."""
    queryset = (
        AssetSet.objects.filter(model_version=model_version, channel=channel)
        .filter(_product_condition(filters))
        .select_related("product")
    )
    if filters.tone or filters.search:
        listed = creative_list(model_version=model_version, filters=filters).order_by().values("product_id")
        queryset = queryset.filter(product_id__in=listed)
    return queryset.order_by(*ASSET_SET_SORTS.get(filters.sort, ASSET_SET_SORTS[DEFAULT_SORT]))


def product_asset_sets(*, product: Product, model_version: ModelVersion | None) -> dict[str, AssetSet]:
    """The asset sets `model_version` wrote for one product, by channel."""
    if model_version is None:
        return {}
    rows = AssetSet.objects.filter(product=product, model_version=model_version, channel__in=list(CHANNELS))
    return {asset_set.channel: asset_set for asset_set in rows}


def catalog_categories() -> list[str]:
    return _distinct_product_values("category")


def catalog_brands() -> list[str]:
    return _distinct_product_values("brand")


def _distinct_product_values(field_name: str) -> list[str]:
    """The distinct values of an indexed product column, in order, by hopping through its index from one
    value to the next (a "loose index scan"): one index probe per value, where `SELECT DISTINCT` reads
    every product (tens of milliseconds on each page view of a 100,000-product catalog)."""
    quote = connection.ops.quote_name
    table, column = quote(Product._meta.db_table), quote(Product._meta.get_field(field_name).column)
    sql = (
        f"WITH RECURSIVE distinct_values(value) AS ("
        f" SELECT MIN({column}) FROM {table}"
        f" UNION ALL"
        f" SELECT (SELECT MIN({column}) FROM {table} WHERE {column} > distinct_values.value)"
        f" FROM distinct_values WHERE distinct_values.value IS NOT NULL"
        f") SELECT value FROM distinct_values WHERE value IS NOT NULL"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [value for (value,) in cursor.fetchall()]


def tone_choices() -> list[tuple[str, str]]:
    return list(Tone.choices)


class CappedPaginator(Paginator):
    """A paginator for the creatives list at catalog scale, with the same three queries on any page.

    * The count stops at `count_cap`: counting every matching row of a 100,000-row join on each view
      costs more than the page itself, and nobody pages that deep (the CSV export is for that); the
      page then says "more than …".
    * A page is read in two steps ("deferred join"): the sorted, narrow ids of the page first, then the
      25 full rows by primary key, so the database sorts 100,000 narrow tuples instead of whole rows
      with their body text and product columns.
    * `ids_at_once` (a search): the sorted ids of every match, up to the cap, are read in one query
      that gives both the count and the page. A search's condition is the costly part of its queries
      (a trigram index scan whose rows are all rechecked), so reading it once instead of twice halves
      the page's time (PostgreSQL, 100,000 products: 82 + 55 ms became one query of about 80 ms);
      for a plain listing, where the condition is cheap and the matches are the whole catalog, the
      count and the page stay two queries.
    """

    count_cap = 10_000

    def __init__(
        self,
        object_list: QuerySet[Creative],
        per_page: int,
        *,
        model_version: ModelVersion,
        ids_at_once: bool = False,
    ):
        super().__init__(object_list, per_page)
        self.model_version = model_version
        self.ids_at_once = ids_at_once

    @cached_property
    def _all_ids(self) -> list[int]:
        return list(self.object_list.values_list("id", flat=True)[: self.count_cap + 1])

    @cached_property
    def _capped_count(self) -> int:
        if self.ids_at_once:
            return len(self._all_ids)
        # COUNT over a LIMITed, unordered subquery: the database stops after count_cap + 1 rows.
        return self.object_list.order_by()[: self.count_cap + 1].count()

    @cached_property
    def count(self) -> int:
        return min(self._capped_count, self.count_cap)

    @property
    def count_is_capped(self) -> bool:
        return self._capped_count > self.count_cap

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        if self.ids_at_once and bottom + self.per_page <= self.count_cap:
            ids = self._all_ids[bottom : bottom + self.per_page]
        else:
            ids = list(self.object_list.values_list("id", flat=True)[bottom : bottom + self.per_page])
        rows = Creative.objects.select_related("product").in_bulk(ids)
        creatives = [rows[pk] for pk in ids if pk in rows]
        for creative in creatives:
            creative.model_version = self.model_version
        return self._get_page(creatives, number, self)


def export_cell(value: object) -> str:
    """A CSV cell that a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_PREFIXES):
        return "'" + text
    return text


def export_rows(
    queryset: QuerySet[Creative], *, model_version: ModelVersion, chunk_size: int = 2000
) -> Iterator[list[str]]:
    """The CSV rows (header first) for the creatives in `queryset`, all written by `model_version`,
    read in chunks (a server-side cursor on PostgreSQL), never all at once."""
    yield list(EXPORT_COLUMNS)
    version_label = f"{model_version.name} v{model_version.version}"
    for creative in queryset.iterator(chunk_size=chunk_size):
        product = creative.product
        yield [
            export_cell(value)
            for value in (
                product.sku,
                product.title,
                product.category,
                product.brand,
                product.price,
                creative.tone,
                creative.headline,
                creative.body,
                creative.cta,
                version_label,
                creative.created_at.isoformat(),
            )
        ]


@dataclass(frozen=True)
class VersionHistory:
    model_version: ModelVersion
    creatives: list[Creative]


def product_current_creatives(*, product: Product, model_version: ModelVersion | None) -> list[Creative]:
    """The production model's latest creative per tone for one product, in the tones' order."""
    if model_version is None:
        return []
    creatives = list(
        latest_creatives(model_version=model_version).filter(product=product).select_related("model_version")
    )
    tone_order = {value: index for index, (value, _) in enumerate(Tone.choices)}
    return sorted(
        creatives, key=lambda creative: (tone_order.get(creative.tone, len(tone_order)), creative.tone)
    )


def product_history(*, product: Product, exclude_version: ModelVersion | None) -> list[VersionHistory]:
    """What the other model versions wrote for this product, newest version first."""
    queryset = Creative.objects.filter(product=product).select_related("model_version")
    if exclude_version is not None:
        queryset = queryset.exclude(model_version=exclude_version)
    creatives = queryset.order_by("-model_version__version", "model_version_id", "tone", "-id")[
        :HISTORY_LIMIT
    ]
    return [
        VersionHistory(model_version=group[0].model_version, creatives=group)
        for group in _group_by_version(creatives)
    ]


def _group_by_version(creatives: Iterable[Creative]) -> Iterator[list[Creative]]:
    for _, group in groupby(creatives, key=lambda creative: creative.model_version_id):
        yield list(group)


def creatives_by_ids(*, product: Product, ids: list[int]) -> list[Creative]:
    return list(
        Creative.objects.filter(product=product, id__in=ids).select_related("model_version").order_by("id")
    )
