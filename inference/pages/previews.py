"""The product page's ad previews: a product's asset sets as the ads would look, every text with its
width as the platform counts it (`display_width`: a CJK character counts two) against its limit.

Plain data for the template; the page draws a Google search result and a Meta feed card from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from inference.models import AssetSet
from products.models import Product
from training.ml.channels import CHANNELS, Channel, count_check

# The channels with a preview, in the page's order.
PREVIEW_CHANNELS = ("google_search", "meta_feed")


@dataclass(frozen=True)
class CountedText:
    """One asset with its counter ("24/30"); `findings` are the policy-lint messages about it."""

    text: str
    width: int
    limit: int | None
    findings: tuple[str, ...] = ()

    @property
    def over_limit(self) -> bool:
        return self.limit is not None and self.width > self.limit


@dataclass(frozen=True)
class FieldAssets:
    """Every value of one field of a set, and what its count lacks ("takes 3–15 …; this one has 2")."""

    name: str
    label: str
    limit: int | None
    values: list[CountedText]
    count_problem: str = ""


@dataclass(frozen=True)
class AdPreview:
    channel: Channel
    asset_set: AssetSet | None
    fields: list[FieldAssets] = field(default_factory=list)
    display_host: str = ""  # the Final URL's host, shown before the display paths

    def first(self, name: str, count: int = 1) -> list[CountedText]:
        for field_assets in self.fields:
            if field_assets.name == name:
                return field_assets.values[:count]
        return []

    # What the template shows in the ad itself.
    @property
    def top_headlines(self) -> list[CountedText]:
        return self.first("headline", 3)

    @property
    def headline(self) -> CountedText | None:
        return next(iter(self.first("headline")), None)

    @property
    def description(self) -> CountedText | None:
        return next(iter(self.first("description")), None)

    @property
    def paths(self) -> list[CountedText]:
        return self.first("path", 2)

    @property
    def primary_text(self) -> CountedText | None:
        return next(iter(self.first("primary_text")), None)

    @property
    def link_description(self) -> CountedText | None:
        return next(iter(self.first("link_description")), None)

    @property
    def call_to_action(self) -> str:
        return next((value.text for value in self.first("cta")), "")


def ad_previews(*, product: Product, asset_sets: dict[str, AssetSet]) -> list[AdPreview]:
    """One preview per previewed channel; `asset_set` is None where the set is not written yet."""
    host = _host(product.shop_link)
    previews = []
    for name in PREVIEW_CHANNELS:
        channel, asset_set = CHANNELS[name], asset_sets.get(name)
        fields = _fields(channel, asset_set) if asset_set is not None else []
        previews.append(AdPreview(channel=channel, asset_set=asset_set, fields=fields, display_host=host))
    return previews


def _fields(channel: Channel, asset_set: AssetSet) -> list[FieldAssets]:
    assets = asset_set.assets or {}
    findings = [finding for finding in asset_set.lint or [] if isinstance(finding, dict)]
    fields = []
    for channel_field in channel.fields:
        values = [value for value in assets.get(channel_field.name) or [] if isinstance(value, str)]
        # A lint finding names a channel field, or the model output that field is written from.
        names = {channel_field.name} | {out for out, name in channel.outputs if name == channel_field.name}
        counted = [
            CountedText(
                text=value,
                width=channel.width(value),
                limit=channel_field.max_width,
                findings=_findings_about(value, names, findings),
            )
            for value in values
        ]
        fields.append(
            FieldAssets(
                name=channel_field.name,
                label=channel_field.label,
                limit=channel_field.max_width,
                values=counted,
                count_problem=_count_problem(channel, channel_field.name, len(values)),
            )
        )
    return fields


def _count_problem(channel: Channel, field_name: str, count: int) -> str:
    """What the platform would say about the number of values; for Meta, whose flexible format takes
    up to five of each text (one ad per primary text in the export), only too few is a problem."""
    if channel.name == "meta_feed" and count >= channel.field(field_name).min_count:
        return ""
    finding = count_check(channel, field_name, count)
    return finding.message if finding else ""


def _findings_about(value: str, names: set[str], findings: list[dict]) -> tuple[str, ...]:
    folded = value.casefold()
    return tuple(
        str(finding.get("message", ""))
        for finding in findings
        if finding.get("field") in names and finding.get("text") and str(finding["text"]).casefold() in folded
    )


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "") if url else ""
