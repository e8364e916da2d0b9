"""Asset sets: what one product's ad takes on a platform that mixes its assets itself.

A Google responsive search ad takes 3-15 headlines and 2-4 descriptions and shows the best mix of
them; Meta's flexible format takes up to 5 primary texts, headlines and link descriptions. A set is
built from the creatives the model wrote for the product in that channel, one per tone (each within
the channel's limits by construction, see budget.py): for `google_search` every headline and call
to action is a headline candidate and every body a description; candidates that read the same after
normalising case and punctuation count once. Where the model's writing leaves a set short, it is
completed from the product's own facts only: its brand and noun, its title cut by whole words, the
sentences of its description that fit, so a set never says what the product data does not.

`asset_set_check` says whether a set is complete (the issue's rule: at least 8 distinct headlines,
3 distinct descriptions, a headline naming the brand or the product, two display paths).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from training.ml.channels import Channel, display_paths, field_check, meta_button
from training.ml.formatting import fit_to_width, product_noun
from training.ml.policy_lint import lint_creative

GOOGLE_MIN_HEADLINES = 8
GOOGLE_MAX_HEADLINES = 15
GOOGLE_MIN_DESCRIPTIONS = 3
GOOGLE_MAX_DESCRIPTIONS = 4
META_MAX_ASSETS = 5  # Meta's flexible format: up to five of each text

_NOT_WORD = re.compile(r"[\W_]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def normalise(text: str) -> str:
    """What two assets compare by: lower case, punctuation and spacing taken out."""
    return " ".join(_NOT_WORD.sub(" ", text.casefold()).split())


@dataclass(frozen=True)
class AssetSet:
    channel: str
    assets: dict[str, list[str]]  # channel field -> its values, in the order they were chosen
    written: int  # headline candidates the model wrote (before duplicates left)
    distinct_written: int  # of them, distinct after normalising

    @property
    def headlines(self) -> list[str]:
        return self.assets.get("headline", [])

    @property
    def descriptions(self) -> list[str]:
        return self.assets.get("description", [])

    @property
    def paths(self) -> list[str]:
        return self.assets.get("path", [])


def asset_set_build(channel: Channel, item: Mapping, creatives: Sequence[Mapping[str, str]]) -> AssetSet:
    """The set for `item` from `creatives` the model wrote for it in `channel` (one per tone)."""
    noun = product_noun(item.get("title"), item.get("brand"), item.get("description"))
    if channel.name == "google_search":
        return _google_set(channel, item, noun, creatives)
    if channel.name == "meta_feed":
        return _meta_set(channel, creatives)
    raise ValueError(f"channel {channel.name} has no asset sets; sets exist for google_search and meta_feed")


def _google_set(channel: Channel, item: Mapping, noun: str, creatives) -> AssetSet:
    headline_limit = channel.field("headline").max_width
    description_limit = channel.field("description").max_width
    written = [
        text for creative in creatives for text in (creative.get("headline"), creative.get("cta")) if text
    ]
    headlines = _Distinct(GOOGLE_MAX_HEADLINES)
    headlines.extend(written)
    distinct_written = len(headlines.values)
    brand = str(item.get("brand") or "").strip()
    named = [value for value in (brand, noun) if value]
    if not any(_names(headline, named) for headline in headlines.values):
        headlines.insert_first(_fact_headlines(item, brand, noun, headline_limit, channel)[:1])
    if len(headlines.values) < GOOGLE_MIN_HEADLINES:
        headlines.extend(_fact_headlines(item, brand, noun, headline_limit, channel))
    descriptions = _Distinct(GOOGLE_MAX_DESCRIPTIONS)
    descriptions.extend(creative.get("body") for creative in creatives)
    if len(descriptions.values) < GOOGLE_MAX_DESCRIPTIONS:
        descriptions.extend(_fact_descriptions(item, description_limit, channel))
    assets = {
        "headline": headlines.values,
        "description": descriptions.values,
        "path": display_paths(str(item.get("category") or ""), noun),
    }
    return AssetSet(channel.name, assets, len(written), distinct_written)


def _meta_set(channel: Channel, creatives) -> AssetSet:
    assets: dict[str, list[str]] = {}
    for output, name in channel.outputs:
        values = _Distinct(META_MAX_ASSETS)
        values.extend(creative.get(output) for creative in creatives)
        assets[name] = values.values
    buttons = _Distinct(1)
    buttons.extend(meta_button(creative.get("tone", "")) for creative in creatives)
    assets["cta"] = buttons.values or [meta_button("")]
    written = [creative.get("headline") for creative in creatives if creative.get("headline")]
    return AssetSet(channel.name, assets, len(written), len({normalise(text) for text in written}))


def _names(text: str, names: list[str]) -> bool:
    folded = normalise(text)
    return any(normalise(name) and normalise(name) in folded for name in names)


def _fact_headlines(item: Mapping, brand: str, noun: str, limit: int, channel: Channel) -> list[str]:
    """Headlines made of the product's own words, most specific first."""
    title = " ".join(str(item.get("title") or "").split())
    noun_title = " ".join(word[:1].upper() + word[1:] for word in noun.split())
    candidates = [
        f"{brand} {noun_title}" if brand and noun_title else "",
        fit_to_width(title, limit) if title else "",
        noun_title,
        f"Shop {brand}" if brand else "",
        brand,
    ]
    return [text for text in candidates if text and channel.width(text) <= limit]


def _fact_descriptions(item: Mapping, limit: int, channel: Channel) -> list[str]:
    """Sentences of the product's description that fit a description whole."""
    text = " ".join(str(item.get("description") or "").split())
    sentences = [sentence.strip() for sentence in _SENTENCE_END.split(text)]
    return [sentence for sentence in sentences if sentence and channel.width(sentence) <= limit]


class _Distinct:
    """Values in order, at most `size`, none equal to an earlier one after `normalise`."""

    def __init__(self, size: int):
        self.size = size
        self.values: list[str] = []
        self._seen: set[str] = set()

    def extend(self, values) -> None:
        for value in values:
            self.add(value)

    def add(self, value) -> None:
        key = normalise(value or "")
        if key and key not in self._seen and len(self.values) < self.size:
            self._seen.add(key)
            self.values.append(" ".join(str(value).split()))

    def insert_first(self, values: list[str]) -> None:
        for value in values:
            key = normalise(value)
            if key and key not in self._seen:
                self._seen.add(key)
                self.values.insert(0, value)
                del self.values[self.size :]


def asset_set_problems(asset_set: AssetSet, item: Mapping) -> list[str]:
    """Why a google_search set is not complete, in words (empty: complete). Other channels' sets
    are complete when every field the channel requires has a value."""
    if asset_set.channel != "google_search":
        return [f"no {name}" for name in ("primary_text", "headline") if not asset_set.assets.get(name)]
    problems = []
    if len(asset_set.headlines) < GOOGLE_MIN_HEADLINES:
        problems.append(f"{len(asset_set.headlines)} distinct headlines, fewer than {GOOGLE_MIN_HEADLINES}")
    if len(asset_set.descriptions) < GOOGLE_MIN_DESCRIPTIONS:
        problems.append(
            f"{len(asset_set.descriptions)} distinct descriptions, fewer than {GOOGLE_MIN_DESCRIPTIONS}"
        )
    brand = str(item.get("brand") or "").strip()
    noun = product_noun(item.get("title"), item.get("brand"), item.get("description"))
    named = [value for value in (brand, noun) if value]
    if named and not any(_names(headline, named) for headline in asset_set.headlines):
        problems.append("no headline names the brand or the product")
    if len(asset_set.paths) < 2:
        problems.append(f"{len(asset_set.paths)} display paths, fewer than 2")
    return problems


def asset_findings(channel: Channel, assets: Mapping[str, list[str]], source: str) -> list[dict]:
    """Findings {code, field, index, text, message} on every asset: the channel's own rules (a value
    over its limit, a button the platform does not offer) and the ad-policy lint against `source`,
    the product's input text. `index` is the asset's position among its field's values; a lint
    finding's code is one of `policy_lint.CODES`, a channel rule's is not."""
    findings: list[dict] = []
    for name, values in assets.items():
        for index, value in enumerate(values):
            found = [finding for finding in [field_check(channel, name, value)] if finding is not None]
            found += lint_creative({name: value}, source)
            findings += [{**finding.as_dict(), "index": index} for finding in found]
    return findings
