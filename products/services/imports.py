"""Importing real catalogs from CSV or JSON files.

A file is read whole (it is capped at IMPORT_MAX_FILE_BYTES), decoded as UTF-8, parsed into rows
that each carry their line number, and every row is checked field by field. Good rows are stored,
bad rows are reported with their line and field and are not stored. Products are written by sku
(created, updated or left unchanged) with their creatives in one transaction, so a re-import never
duplicates and an import never stores half a product. A file that cannot be read at all (too
large, not UTF-8, not JSON, missing columns) is refused as a whole with an `ApplicationError`.

CSV: one row per (sku, channel, tone) reference creative, with the product columns repeated on each
row; a product without creatives is one row with empty channel, tone, headline, body and cta. The
`url` column (the product's page on the shop, http or https) is optional: a file without it leaves
stored URLs as they are, an empty cell clears one. The `channel` column is optional too: past ad copy
written for an ad platform names it (`google_search`, `meta_feed`) and must keep that channel's
limits; a creative without one is `generic`. This is exactly what `catalog_csv_rows` (the admin
export) writes, so an export imports back unchanged.
JSON: a list of product objects, or `{"products": [...]}`; a product may carry flat channel / tone /
headline / body / cta keys like a CSV row, and/or
`"creatives": [{"channel", "tone", "headline", "body", "cta"}, ...]`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.db import transaction

from creativeops.core.text import forbidden_character
from products.generator import CHANNEL_OUTPUT_LIMITS, channel_text_width
from products.models import (
    PRODUCT_URL_SCHEMES,
    Channel,
    Product,
    ReferenceCreative,
    Tone,
    product_url_validator,
)
from products.ood import OOD_SKU_PREFIX
from products.services.catalog import chunked
from products.services.import_files import (
    CATALOG_COLUMNS,
    CREATIVE_COLUMNS,
    OPTIONAL_CREATIVE_COLUMNS,
    OPTIONAL_PRODUCT_COLUMNS,
    REQUIRED_COLUMNS,
    ImportIssue,
    RawRow,
    json_type,
    read_catalog_file,
)
from products.services.writers import CatalogWriteResult, catalog_plan, catalog_plan_apply

logger = logging.getLogger(__name__)

PREVIEW_ROWS = 20
PRODUCT_DATA: tuple[str, ...] = (*REQUIRED_COLUMNS[1:], *OPTIONAL_PRODUCT_COLUMNS)
STORE_BATCH = 500
PRICE_MAX = Decimal("99999999.99")
RATING_MAX = Decimal(5)
PRICE_PLACES = Product._meta.get_field("price").decimal_places
RATING_PLACES = Product._meta.get_field("rating").decimal_places
_TEXT_LIMITS: dict[str, int] = {
    **{name: Product._meta.get_field(name).max_length for name in ("sku", "title", "category", "brand")},
    "description": Product._meta.get_field("description").max_length,
    "url": Product._meta.get_field("url").max_length,
    **{name: ReferenceCreative._meta.get_field(name).max_length for name in ("headline", "body", "cta")},
}


@dataclass
class ImportedCreative:
    tone: str
    channel: str
    headline: str
    body: str
    cta: str
    line: int


@dataclass
class ImportedProduct:
    """A product as the file describes it, after validation; `line` is where it first appears."""

    sku: str
    title: str
    category: str
    brand: str
    description: str
    price: Decimal
    rating: Decimal
    line: int
    url: str | None = None  # None: the file has no url column, the stored URL is kept
    creatives_by_key: dict[tuple[str, str], ImportedCreative] = field(default_factory=dict)  # (channel, tone)

    @property
    def creatives(self) -> list[ImportedCreative]:
        return list(self.creatives_by_key.values())


@dataclass(frozen=True)
class PreviewRow:
    line: int
    values: dict[str, str]
    issues: tuple[ImportIssue, ...]
    outcome: str = ""

    @property
    def accepted(self) -> bool:
        return not self.issues


@dataclass
class ImportReport:
    """What an import did (or, for a dry run, would do). Product counts are by sku; rows by line."""

    filename: str
    file_format: str
    dry_run: bool
    rows: int = 0
    rejected_rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[ImportIssue] = field(default_factory=list)
    preview: list[PreviewRow] = field(default_factory=list)

    @property
    def products(self) -> int:
        return self.created + self.updated + self.unchanged

    @property
    def rejected(self) -> int:
        return self.rejected_rows

    def summary(self) -> str:
        verb = "would be" if self.dry_run else "were"
        return (
            f"{self.filename}: {self.rows:,} row{'' if self.rows == 1 else 's'} read, "
            f"{self.rejected_rows:,} rejected. Products {verb} "
            f"created: {self.created:,}, updated: {self.updated:,}, unchanged: {self.unchanged:,}."
        )


# --------------------------------------------------------------------------------------------
# The service
# --------------------------------------------------------------------------------------------


def products_import(*, file: IO[bytes], filename: str, actor=None, dry_run: bool = False) -> ImportReport:
    """Import a CSV or JSON catalog file; `dry_run` validates and counts without writing anything."""
    file_format, raw_rows = read_catalog_file(file=file, filename=filename)
    report = ImportReport(filename=filename, file_format=file_format, dry_run=dry_run)
    products: dict[str, ImportedProduct] = {}
    preview: list[tuple[RawRow, list[ImportIssue]]] = []
    for raw in raw_rows:
        report.rows += 1
        issues = _located(raw, list(raw.issues) or _reserved_sku(raw) or _accept_row(raw, products))
        if issues:
            report.rejected_rows += 1
            report.errors.extend(issues)
        if len(preview) < PREVIEW_ROWS:
            preview.append((raw, issues))
    outcomes = _store(list(products.values()), report, dry_run=dry_run)
    report.preview = [
        PreviewRow(
            line=raw.line,
            values={name: _display(raw.values.get(name)) for name in CATALOG_COLUMNS},
            issues=tuple(issues),
            outcome="" if issues else outcomes.get(str(raw.values.get("sku", "")).strip(), ""),
        )
        for raw, issues in preview
    ]
    logger.info(
        "Catalog import by %s%s: %s",
        getattr(actor, "username", "system"),
        " (dry run)" if dry_run else "",
        report.summary(),
    )
    return report


def _located(raw: RawRow, issues: list[ImportIssue]) -> list[ImportIssue]:
    """A JSON file's issues also name the product's position and sku: one line may hold them all."""
    if raw.item is None or not issues:
        return issues
    sku = raw.values.get("sku")
    sku = sku.strip() if isinstance(sku, str) and sku.strip() else None
    return [replace(issue, item=raw.item, sku=sku) for issue in issues]


def products_validate(*, file: IO[bytes], filename: str) -> tuple[list[ImportedProduct], list[ImportIssue]]:
    """The products a file holds and the issues of its rejected rows, checked exactly as
    `products_import` checks them, without touching the database."""
    _, raw_rows = read_catalog_file(file=file, filename=filename)
    products: dict[str, ImportedProduct] = {}
    issues: list[ImportIssue] = []
    for raw in raw_rows:
        issues.extend(_located(raw, list(raw.issues) if raw.issues else _accept_row(raw, products)))
    return list(products.values()), issues


def _store(products: list[ImportedProduct], report: ImportReport, *, dry_run: bool) -> dict[str, str]:
    """Plan every batch first, then write all of them in one transaction: an import either stores
    all of its good rows or, if the database fails midway, none of them."""
    plans = [catalog_plan(batch, Product.Source.IMPORTED) for batch in chunked(products, STORE_BATCH)]
    outcomes: dict[str, str] = {}
    result = CatalogWriteResult()
    for plan in plans:
        outcomes.update(plan.outcomes)
        result += plan.result
    if not dry_run:
        with transaction.atomic():
            for plan in plans:
                catalog_plan_apply(plan)
    report.created, report.updated, report.unchanged = result.created, result.updated, result.unchanged
    return outcomes


# --------------------------------------------------------------------------------------------
# Validating rows
# --------------------------------------------------------------------------------------------


def _accept_row(raw: RawRow, products: dict[str, ImportedProduct]) -> list[ImportIssue]:
    """Validate one row and, if it is good, merge it into `products`; returns the row's issues."""
    issues: list[ImportIssue] = []
    product = _validate_product(raw, issues)
    creatives = _validate_creatives(raw, issues)
    if issues:
        return issues
    known = products.get(product.sku)
    if known is not None:
        differing = [name for name in PRODUCT_DATA if getattr(known, name) != getattr(product, name)]
        if differing:
            message = (
                f"sku '{product.sku}' is on line {known.line} with different product data "
                f"({', '.join(differing)}); one sku is one product."
            )
            return [ImportIssue(raw.line, "sku", message)]
    target = known or product
    seen = dict(target.creatives_by_key)
    for creative in creatives:
        first = seen.setdefault((creative.channel, creative.tone), creative)
        if _creative_text(first) != _creative_text(creative):
            where = f"on line {first.line}" if first.line != creative.line else "in the same product"
            if creative.channel == Channel.GENERIC.value:
                what, rule = f"'{creative.tone}' creative", "one creative per tone"
            else:
                what = f"'{creative.tone}' creative for {creative.channel}"
                rule = "one creative per tone and channel"
            message = f"sku '{product.sku}' already has a different {what} {where}; {rule}."
            return [ImportIssue(raw.line, "tone", message)]
    products.setdefault(product.sku, product)
    target.creatives_by_key.update(seen)
    return []


def _reserved_sku(raw: RawRow) -> list[ImportIssue]:
    """The out-of-distribution evaluation set must never become catalog products (a training snapshot
    would then train on it): its skus are refused here, whoever uploads its fixture."""
    sku = raw.values.get("sku")
    if isinstance(sku, str) and sku.strip().upper().startswith(OOD_SKU_PREFIX):
        message = (
            f"sku '{sku.strip()}' starts with '{OOD_SKU_PREFIX}', the prefix of the out-of-distribution "
            "evaluation set, which is never trained on; import that set with manage.py import_ood_set."
        )
        return [ImportIssue(raw.line, "sku", message)]
    return []


def _creative_text(creative: ImportedCreative) -> tuple[str, str, str]:
    return creative.headline, creative.body, creative.cta


def _validate_product(raw: RawRow, issues: list[ImportIssue]) -> ImportedProduct | None:
    line = raw.line
    values = {name: _text(raw.values, name, line, issues, required=True) for name in REQUIRED_COLUMNS}
    price = _decimal(values["price"], "price", line, issues, places=PRICE_PLACES, low=None, high=PRICE_MAX)
    rating = _decimal(
        values["rating"], "rating", line, issues, places=RATING_PLACES, low=Decimal(0), high=RATING_MAX
    )
    url = _url(raw.values, line, issues)
    if issues:
        return None
    return ImportedProduct(
        sku=values["sku"],
        title=values["title"],
        category=values["category"],
        brand=values["brand"],
        description=values["description"],
        price=price,
        rating=rating,
        line=line,
        url=url,
    )


def _validate_creatives(raw: RawRow, issues: list[ImportIssue]) -> list[ImportedCreative]:
    creatives = []
    flat = _validate_creative(raw.values, raw.line, "", issues)
    if flat is not None:
        creatives.append(flat)
    nested = raw.nested_creatives
    if nested is None:
        return creatives
    if not isinstance(nested, list):
        message = "creatives must be a list of {channel, tone, headline, body, cta} objects."
        issues.append(ImportIssue(raw.line, "creatives", message))
        return creatives
    for index, item in enumerate(nested):
        prefix = f"creatives[{index}]."
        if not isinstance(item, dict):
            issues.append(
                ImportIssue(raw.line, prefix[:-1], f"{prefix[:-1]} is not an object but {json_type(item)}.")
            )
            continue
        creative = _validate_creative(item, raw.line, prefix, issues)
        if creative is not None:
            creatives.append(creative)
    return creatives


def _validate_creative(
    values: dict, line: int, prefix: str, issues: list[ImportIssue]
) -> ImportedCreative | None:
    """A creative from the channel / tone / headline / body / cta values, or None when all are empty."""
    texts = {
        name: _text(values, name, line, issues, required=False, prefix=prefix)
        for name in (*OPTIONAL_CREATIVE_COLUMNS, *CREATIVE_COLUMNS)
    }
    if not any(texts.values()):
        return None
    before = len(issues)
    for name in CREATIVE_COLUMNS:
        if not texts[name]:
            issues.append(
                ImportIssue(
                    line, prefix + name, f"{name} is empty; a creative needs tone, headline, body and cta."
                )
            )
    tone = texts["tone"].lower()
    if tone and tone not in Tone.values:
        issues.append(
            ImportIssue(
                line, prefix + "tone", f"tone '{texts['tone']}' is not one of {', '.join(Tone.values)}."
            )
        )
    channel = _channel(texts, line, prefix, issues)
    if len(issues) > before:
        return None
    _check_channel_limits(channel, texts, line, prefix, issues)
    if len(issues) > before:
        return None
    return ImportedCreative(
        tone=tone,
        channel=channel,
        headline=texts["headline"],
        body=texts["body"],
        cta=texts["cta"],
        line=line,
    )


def _channel(texts: dict[str, str], line: int, prefix: str, issues: list[ImportIssue]) -> str:
    """The creative's channel: `generic` when the cell is empty or the file has no channel column."""
    channel = texts["channel"].lower() or Channel.GENERIC.value
    if channel not in Channel.values:
        message = f"channel '{texts['channel']}' is not one of {', '.join(Channel.values)}."
        issues.append(ImportIssue(line, prefix + "channel", message))
    return channel


def _check_channel_limits(
    channel: str, texts: dict[str, str], line: int, prefix: str, issues: list[ImportIssue]
) -> None:
    """Copy written for an ad platform keeps its limits (`CHANNEL_OUTPUT_LIMITS`, those of
    `training.ml.channels`), counted as the platform counts them: the model learns them from it."""
    for name, limit in CHANNEL_OUTPUT_LIMITS[channel].items():
        width = channel_text_width(channel, texts[name])
        if limit is not None and width > limit:
            counted = " (a double-width character counts 2)" if width != len(texts[name]) else ""
            message = (
                f"{name} is {width:,} characters long{counted}; channel {channel} allows at most {limit:,}."
            )
            issues.append(ImportIssue(line, prefix + name, message))


def _text(
    values: dict, name: str, line: int, issues: list[ImportIssue], *, required: bool, prefix: str = ""
) -> str:
    if required and name not in values:
        issues.append(ImportIssue(line, prefix + name, f"{name} is missing."))
        return ""
    value = values.get(name)
    if value is None:
        value = ""
    elif isinstance(value, bool) or not isinstance(value, (str, int, float)):
        issues.append(ImportIssue(line, prefix + name, f"{name} must be text, not {json_type(value)}."))
        return ""
    value = str(value).strip()
    limit = _TEXT_LIMITS.get(name)
    forbidden = forbidden_character(value)
    if forbidden:  # see creativeops/core/text.py: refused, never silently stripped
        issues.append(ImportIssue(line, prefix + name, f"{name} contains {forbidden}; remove it."))
    elif required and not value:
        issues.append(ImportIssue(line, prefix + name, f"{name} is empty; every product needs one."))
    elif limit and len(value) > limit:
        issues.append(
            ImportIssue(
                line, prefix + name, f"{name} is {len(value):,} characters long; the limit is {limit:,}."
            )
        )
    return value


def _url(values: dict, line: int, issues: list[ImportIssue]) -> str | None:
    """The product page's address: http or https only (never `javascript:` or a local file, since pages
    link to it), or None when the row has no url at all; an empty cell is "" (no URL)."""
    if "url" not in values:
        return None
    before = len(issues)
    url = _text(values, "url", line, issues, required=False)
    if len(issues) > before or not url:
        return url
    scheme, colon, _ = url.partition(":")
    space = next((index for index, character in enumerate(url) if character.isspace()), None)
    if not colon or scheme.lower() not in PRODUCT_URL_SCHEMES:
        message = f"url must start with http:// or https://; got '{url}'."
    elif space is not None:
        message = f"url contains a space at position {space + 1}; write it as %20."
    else:
        try:
            product_url_validator(url)
            return url
        except ValidationError:
            message = f"url '{url}' is not a web address like https://shop.example.com/p/sku-1."
    issues.append(ImportIssue(line, "url", message))
    return url


def _decimal(
    raw: str, name: str, line: int, issues: list[ImportIssue], *, places: int, low, high
) -> Decimal | None:
    """One rule for every number: it is stored exactly as written or refused, never rounded. A price
    has at most PRICE_PLACES decimals, a rating at most RATING_PLACES (what the catalog stores)."""
    if not raw:
        return None  # already reported as empty
    try:
        number = Decimal(raw)
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        issues.append(ImportIssue(line, name, f"{name} '{raw}' is not a number."))
        return None
    if low is None and number <= 0:
        issues.append(ImportIssue(line, name, f"{name} must be greater than 0; got {raw}."))
        return None
    if low is not None and not low <= number <= high:
        issues.append(ImportIssue(line, name, f"{name} must be between {low} and {high}; got {raw}."))
        return None
    if number > high:
        issues.append(ImportIssue(line, name, f"{name} must be at most {high}; got {raw}."))
        return None
    if number != number.quantize(Decimal(1).scaleb(-places)):
        plural = "place" if places == 1 else "places"
        message = f"{name} '{raw}' has more than {places} decimal {plural}."
        issues.append(ImportIssue(line, name, message))
        return None
    return number.quantize(Decimal(1).scaleb(-places))


def _display(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)
