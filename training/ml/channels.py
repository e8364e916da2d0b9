"""The channels a creative is written for, defined once: their fields, limits and counts per ad.

Every other part of the project (the API, the admin, decoding, exports, the metrics) reads the limits
from `CHANNELS`, so a platform's rule changes in one place. Limits are counted as the platforms count
them: Google Ads and Microsoft Advertising count a double-width character (Chinese, Japanese, Korean,
full-width forms) as two, so `display_width` does too; for Meta, whose limits are what the feed shows
before it truncates, counting the same way keeps a card from being cut. `generic` is today's shape
(headline, body, call to action) with the limits of the columns that store it, in plain characters.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from training.ml.findings import Finding

DEFAULT_CHANNEL = "generic"

# Meta's call-to-action buttons a product ad can use (Marketing API `call_to_action.type`): the button
# text a marketer picks in Ads Manager, and the API value the bulk import expects.
META_CALLS_TO_ACTION = {
    "Shop now": "SHOP_NOW",
    "Learn more": "LEARN_MORE",
    "Sign up": "SIGN_UP",
    "Get offer": "GET_OFFER",
    "Order now": "ORDER_NOW",
    "Buy now": "BUY_NOW",
    "Book now": "BOOK_NOW",
    "Contact us": "CONTACT_US",
    "Download": "DOWNLOAD",
    "Subscribe": "SUBSCRIBE",
    "Apply now": "APPLY_NOW",
    "Get quote": "GET_QUOTE",
}

_DOUBLE_WIDTH = frozenset({"W", "F"})  # East Asian Wide and Fullwidth


def display_width(text: str) -> int:
    """Characters as the ad platforms count them: a Wide or Fullwidth character counts 2, any other 1."""
    if text.isascii():  # no ASCII character is Wide or Fullwidth: skip the per-character lookup
        return len(text)
    return sum(2 if unicodedata.east_asian_width(character) in _DOUBLE_WIDTH else 1 for character in text)


@dataclass(frozen=True)
class ChannelField:
    """One field of an ad: at most `max_width` characters each (None: no limit), `min_count` to
    `max_count` values per ad, and, where the platform has a fixed list (Meta's buttons), `choices`."""

    name: str
    label: str
    max_width: int | None
    min_count: int = 1
    max_count: int = 1
    choices: tuple[str, ...] = ()

    def describe(self) -> dict:
        return {
            "name": self.name,
            "label": self.label,
            "max_width": self.max_width,
            "min_count": self.min_count,
            "max_count": self.max_count,
            "choices": list(self.choices),
        }


# The model writes three outputs in every channel (training/ml/formatting.py OUTPUT_FIELDS); a channel
# says which of its fields each one is. Fields no output writes (display paths, Meta's button) are
# built from the product (`display_paths`, `meta_button`).
GENERIC_OUTPUTS = (("headline", "headline"), ("body", "body"), ("cta", "cta"))


@dataclass(frozen=True)
class Channel:
    name: str
    label: str
    fields: tuple[ChannelField, ...]
    wide_characters_count_double: bool = True
    outputs: tuple[tuple[str, str], ...] = GENERIC_OUTPUTS  # (model output, channel field)

    def field(self, name: str) -> ChannelField:
        for field in self.fields:
            if field.name == name:
                return field
        allowed = ", ".join(field.name for field in self.fields)
        raise ValueError(f'Channel {self.name} has no field "{name}"; its fields: {allowed}.')

    def width(self, text: str) -> int:
        return display_width(text) if self.wide_characters_count_double else len(text)

    def output_limits(self) -> dict[str, int | None]:
        """The most display columns each model output may take: its channel field's limit."""
        return {output: self.field(name).max_width for output, name in self.outputs}

    def output_field(self, output: str) -> str:
        """The channel field a model output (headline, body, cta) is written as."""
        return dict(self.outputs)[output]

    def describe(self) -> dict:
        return {
            "name": self.name,
            "label": self.label,
            "wide_characters_count_double": self.wide_characters_count_double,
            "fields": [field.describe() for field in self.fields],
            "outputs": {output: name for output, name in self.outputs},
        }


CHANNELS: dict[str, Channel] = {
    channel.name: channel
    for channel in (
        Channel(
            name="generic",
            label="Generic (headline, body, call to action)",
            # The lengths of the columns a creative is stored in (inference.models.Creative).
            fields=(
                ChannelField("headline", "Headline", 300),
                ChannelField("body", "Body", None),
                ChannelField("cta", "Call to action", 120),
            ),
            wide_characters_count_double=False,
        ),
        Channel(
            name="google_search",
            label="Google Ads / Microsoft Advertising responsive search ad",
            fields=(
                ChannelField("headline", "Headline", 30, min_count=3, max_count=15),
                ChannelField("description", "Description", 90, min_count=2, max_count=4),
                # Optional on the platform (path 2 only after path 1); shown after the display URL.
                ChannelField("path", "Display path", 15, min_count=0, max_count=2),
            ),
            # The call-to-action output is a short headline here ("Order the Kettle Today"): a
            # responsive search ad has no button, and an asset set takes up to 15 headlines.
            outputs=(("headline", "headline"), ("body", "description"), ("cta", "headline")),
        ),
        Channel(
            name="meta_feed",
            label="Meta (Facebook / Instagram) feed ad",
            fields=(
                ChannelField("primary_text", "Primary text", 125),
                ChannelField("headline", "Headline", 40),
                ChannelField("link_description", "Link description", 30, min_count=0),
                ChannelField("cta", "Call to action", None, choices=tuple(META_CALLS_TO_ACTION)),
            ),
            # The button is one of Meta's fixed list (`meta_button`); the model's call-to-action output
            # is the link description under the headline.
            outputs=(("headline", "headline"), ("body", "primary_text"), ("cta", "link_description")),
        ),
    )
}


def channel_get(name: str) -> Channel:
    try:
        return CHANNELS[name]
    except (KeyError, TypeError):
        allowed = ", ".join(CHANNELS)
        raise ValueError(f'Unknown channel "{name}"; allowed channels: {allowed}.') from None


def channel_ad(channel: Channel, creative: Mapping[str, str], paths: list[str]) -> dict[str, list[str]]:
    """One creative of the model ({tone, headline, body, cta}) as the channel's fields, each a list
    of values (a responsive search ad's two headlines); fields with nothing to say are left out.
    `paths`: the product's `display_paths`, for a search ad."""
    ad: dict[str, list[str]] = {}
    for output, name in channel.outputs:
        if creative.get(output):
            ad.setdefault(name, []).append(creative[output])
    if channel.name == "google_search" and paths:
        ad["path"] = list(paths)
    if channel.name == "meta_feed":
        ad["cta"] = [meta_button(creative.get("tone", ""))]
    return ad


# Meta's button for a tone: what a shopper in that mood is asked to do. All of them exist for a
# product ad with a website destination; none promises an offer the product data does not state.
_META_BUTTON_OF_TONE = {
    "bold": "Shop now",
    "luxury": "Learn more",
    "value": "Buy now",
    "playful": "Order now",
}


def meta_button(tone: str) -> str:
    return _META_BUTTON_OF_TONE.get(tone, "Shop now")


_PATH_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
PATH_MAX_WIDTH = 15


def display_paths(category: str, noun: str) -> list[str]:
    """Two display paths for a search ad (shown as example.com/Kitchen/Electric-Kettle): the category
    and what the product is, as words joined by hyphens, each within 15 columns by whole words.

    `noun` is what the product is (`formatting.product_noun`). The category keeps its first words, the
    noun its last ("Insulated-Bottle" of "Double Wall Insulated Bottle"), as a noun's head is its
    last word. A path with no word that fits is left out, and a second path equal to the first.
    """
    category_words = _PATH_WORD.findall(str(category or ""))
    noun_words = [word[:1].upper() + word[1:] for word in _PATH_WORD.findall(str(noun or ""))]
    paths = [_path(category_words, keep="first"), _path(noun_words, keep="last")]
    return list(dict.fromkeys(path for path in paths if path))


def _path(words: list[str], *, keep: str) -> str:
    words = [word.replace("’", "").replace("'", "") for word in words]
    while words and display_width("-".join(words)) > PATH_MAX_WIDTH:
        words = words[:-1] if keep == "first" else words[1:]
    return "-".join(words)


def field_check(channel: Channel, field_name: str, value: str) -> Finding | None:
    """Whether one value of a field keeps to its channel's rules; the finding says what to change."""
    field = channel.field(field_name)
    if field.choices and value not in field.choices:
        return Finding(
            code="not_a_choice",
            field=field_name,
            text=value,
            message=(
                f'{field.label} "{value}" is not one of the buttons {channel.label} offers: '
                f"{', '.join(field.choices)}."
            ),
        )
    width = channel.width(value)
    if field.max_width is not None and width > field.max_width:
        return Finding(
            code="over_limit",
            field=field_name,
            text=value,
            message=(
                f"{field.label} is {width} characters long; {channel.label} allows {field.max_width}: "
                f"shorten it by {width - field.max_width}."
            ),
        )
    return None


def count_check(channel: Channel, field_name: str, count: int) -> Finding | None:
    """Whether an ad has as many values of a field as its channel takes (3–15 headlines, …)."""
    field = channel.field(field_name)
    if field.min_count <= count <= field.max_count:
        return None
    wanted = (
        str(field.min_count) if field.min_count == field.max_count else f"{field.min_count}–{field.max_count}"
    )
    return Finding(
        code="wrong_count",
        field=field_name,
        text=str(count),
        message=f"{channel.label} takes {wanted} × {field.label.lower()} per ad; this one has {count}.",
    )
