"""Exports an ad platform takes as they are: the asset sets of a model version as a Google Ads Editor
CSV of responsive search ads, or as a Meta (Ads Manager) bulk-import CSV of feed ads.

Both read the products the creatives page lists with its filters (`asset_set_list`), in chunks, and
are streamed row by row, so a 100,000-product catalog is never held in memory. The `/creatives/`
export form and the API (`inference.apis_exports`) call `ad_export_build`, so they write the same
file for the same filters.

Every cell is what the platform gets, unchanged, except a cell that starts with `=`, `+`, `-`, `@`,
a tab or a carriage return: a spreadsheet would run it as a formula, so it gets a leading
apostrophe, as in the creatives export (`export_cell`). The model's copy does not start that way;
a campaign name typed into the form might. A value over its channel's limit (which decoding never
writes) is left out rather than have the platform refuse the whole row.
"""

from __future__ import annotations

import csv
import string
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from creativeops.core.errors import ApplicationError
from creativeops.core.text import forbidden_character
from inference.models import AssetSet
from inference.selectors_pages import CreativeFilters, asset_set_list, export_cell
from products.models import Product
from registry.models import ModelVersion
from training.ml.channels import CHANNELS, META_CALLS_TO_ACTION, Channel, field_check

GOOGLE_ADS = "google_ads"
META = "meta"
AD_EXPORT_PLATFORMS = {
    GOOGLE_ADS: "Google Ads Editor: responsive search ads",
    META: "Meta Ads Manager bulk import: feed ads",
}
_CHANNEL_OF_PLATFORM = {GOOGLE_ADS: "google_search", META: "meta_feed"}

GOOGLE_HEADLINES = 15
GOOGLE_DESCRIPTIONS = 4
GOOGLE_PATHS = 2
# Google Ads Editor's columns for a responsive search ad, in its template's order and spelling.
GOOGLE_ADS_COLUMNS = (
    "Campaign",
    "Ad group",
    *(f"Headline {number}" for number in range(1, GOOGLE_HEADLINES + 1)),
    *(f"Description {number}" for number in range(1, GOOGLE_DESCRIPTIONS + 1)),
    *(f"Path {number}" for number in range(1, GOOGLE_PATHS + 1)),
    "Final URL",
)
# Ads Manager's import columns for a feed ad's texts and button; `Link` is its column for the
# website URL the ad opens: without it the ad has no destination, and a row could not be told from
# another product's.
META_COLUMNS = ("Title", "Body", "Link Description", "Call to Action", "Link")

# Campaign and ad group names: templates with placeholders a product fills in.
NAME_MAX_LENGTH = 255  # Google Ads: campaign and ad group names, in characters
NAME_PLACEHOLDERS = ("category", "brand", "sku")
DEFAULT_CAMPAIGN = "{category}"
DEFAULT_AD_GROUP = "{brand}"


@dataclass(frozen=True)
class NameTemplate:
    """A campaign or ad group name: literal text and product fields, e.g. "Shop – {category}"."""

    parts: tuple[tuple[str, str | None], ...]  # (literal text, product field after it or None)

    def render(self, product: Product) -> str:
        return "".join(
            literal + (str(getattr(product, field) or "") if field else "") for literal, field in self.parts
        )


def name_template_parse(template: str, *, label: str) -> NameTemplate:
    """`template` as a NameTemplate, or an ApplicationError that says what to change. Refused: an
    unknown placeholder, a format spec, control characters, and a template whose names could be
    longer than Google's 255 characters for the longest category, brand or sku the catalog stores."""
    field = label.lower().replace(" ", "_")
    text = template.strip()
    if not text:
        raise ApplicationError(f"{label} must not be empty.", field=field)
    forbidden = forbidden_character(text)
    if forbidden:
        raise ApplicationError(f"{label} contains {forbidden}; remove it.", field=field)
    allowed = ", ".join(f"{{{name}}}" for name in NAME_PLACEHOLDERS)
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError:
        raise ApplicationError(
            f"{label} has a brace without its pair: placeholders are {allowed}; write a brace itself as "
            "{{ or }}.",
            field=field,
        )
    parts = []
    for literal, name, format_spec, conversion in parsed:
        if name is not None and (name not in NAME_PLACEHOLDERS or format_spec or conversion):
            conversion_text = f"!{conversion}" if conversion else ""
            format_text = f":{format_spec}" if format_spec else ""
            raise ApplicationError(
                f"{label} has {{{name}{conversion_text}{format_text}}}; the placeholders are {allowed}.",
                field=field,
            )
        parts.append((literal, name))
    longest = sum(len(literal) + (_stored_length(name) if name else 0) for literal, name in parts)
    if longest > NAME_MAX_LENGTH:
        raise ApplicationError(
            f"{label} “{text}” can make names of {longest} characters (with the longest values the "
            f"catalog stores); Google Ads allows {NAME_MAX_LENGTH}: "
            f"shorten it by {longest - NAME_MAX_LENGTH}.",
            field=field,
        )
    return NameTemplate(tuple(parts))


def _stored_length(name: str) -> int:
    return Product._meta.get_field(name).max_length


@dataclass(frozen=True)
class AdExport:
    platform: str
    filename: str
    rows: Iterator[list[str]]  # the header first

    def csv_lines(self) -> Iterator[str]:
        return csv_lines(self.rows)


def ad_export_build(
    *,
    platform: str,
    model_version: ModelVersion,
    filters: CreativeFilters,
    campaign: str = DEFAULT_CAMPAIGN,
    ad_group: str = DEFAULT_AD_GROUP,
    chunk_size: int = 2000,
) -> AdExport:
    """The export of `model_version`'s asset sets for `platform` (`google_ads`, `meta`) for the
    products `filters` list. The names are checked here, before the first row is streamed; the rows
    are read when the returned iterator is."""
    if platform not in _CHANNEL_OF_PLATFORM:
        allowed = ", ".join(_CHANNEL_OF_PLATFORM)
        raise ApplicationError(f'Unknown export format "{platform}"; allowed: {allowed}.', field="platform")
    channel = CHANNELS[_CHANNEL_OF_PLATFORM[platform]]
    asset_sets = (
        asset_set_list(model_version=model_version, channel=channel.name, filters=filters)
        # What a row needs, not the product's description (up to 5,000 characters a row).
        .only("assets", "product__sku", "product__category", "product__brand", "product__url")
        .iterator(chunk_size=chunk_size)
    )
    if platform == GOOGLE_ADS:
        names = (
            name_template_parse(campaign or DEFAULT_CAMPAIGN, label="Campaign"),
            name_template_parse(ad_group or DEFAULT_AD_GROUP, label="Ad group"),
        )
        rows = _with_header(GOOGLE_ADS_COLUMNS, _google_ads_rows(asset_sets, channel, *names))
    else:
        rows = _with_header(META_COLUMNS, _meta_rows(asset_sets, channel))
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    filename = f"{platform.replace('_', '-')}-{model_version.name}-v{model_version.version}-{stamp}.csv"
    return AdExport(platform=platform, filename=filename, rows=rows)


def _with_header(columns: tuple[str, ...], rows: Iterable[list[str]]) -> Iterator[list[str]]:
    yield list(columns)
    for row in rows:
        yield [export_cell(value) for value in row]


def _google_ads_rows(
    asset_sets: Iterable[AssetSet], channel: Channel, campaign: NameTemplate, ad_group: NameTemplate
) -> Iterator[list[str]]:
    """One responsive search ad per product; columns a set has no value for are left blank."""
    for asset_set in asset_sets:
        product = asset_set.product
        yield [
            campaign.render(product),
            ad_group.render(product),
            *_padded(fitting_values(channel, asset_set, "headline"), GOOGLE_HEADLINES),
            *_padded(fitting_values(channel, asset_set, "description"), GOOGLE_DESCRIPTIONS),
            *_padded(fitting_values(channel, asset_set, "path"), GOOGLE_PATHS),
            product.shop_link,
        ]


def _meta_rows(asset_sets: Iterable[AssetSet], channel: Channel) -> Iterator[list[str]]:
    """One feed ad per primary text or headline of a set, paired by their place in the set (the
    first headline with the first primary text and link description, …); the button is the set's
    (Meta's API value, e.g. SHOP_NOW)."""
    for asset_set in asset_sets:
        titles = fitting_values(channel, asset_set, "headline")
        bodies = fitting_values(channel, asset_set, "primary_text")
        link_descriptions = fitting_values(channel, asset_set, "link_description")
        buttons = [META_CALLS_TO_ACTION[button] for button in fitting_values(channel, asset_set, "cta")]
        for index in range(max(len(titles), len(bodies))):
            yield [
                _at(titles, index),
                _at(bodies, index),
                _at(link_descriptions, index),
                _at(buttons, index) or _at(buttons, 0),
                asset_set.product.shop_link,
            ]


def fitting_values(channel: Channel, asset_set: AssetSet, field_name: str) -> list[str]:
    """The set's values of one field that keep to the channel's rules (limit, Meta's buttons)."""
    values = (asset_set.assets or {}).get(field_name) or []
    field = channel.field(field_name)
    return [
        value
        for value in values
        if isinstance(value, str) and value.strip() and field_check(channel, field.name, value) is None
    ]


def _padded(values: list[str], size: int) -> list[str]:
    return [*values[:size], *([""] * (size - len(values[:size])))]


def _at(values: list[str], index: int) -> str:
    return values[index] if index < len(values) else ""


class _Echo:
    """A file-like object whose write returns the line, so csv.writer can feed a streaming response."""

    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[list[str]]) -> Iterator[str]:
    """`rows` as CSV text, one line at a time (RFC 4180 quoting, CRLF line ends)."""
    writer = csv.writer(_Echo())
    return (writer.writerow(row) for row in rows)
