"""Say when an input is unlike the data the serving model was trained on.

A model trained on one catalog writes confident copy for anything, including a product of a kind,
a brand or a vocabulary it never saw, and that copy is the likeliest to be wrong (another company's
brand, a noun of the training catalog). The answer therefore carries, per item, which of three
signals fired, measured against the statistics of the model version's dataset version (computed at
snapshot time, see `products.dataset_stats`):

- `category`: the item's category (case-insensitive) is not a category of the training data;
- `brand`: its brand is not a brand of the training data (up to the BRANDS_MAX most frequent);
- `vocabulary`: more than NOVELTY_MAX_UNSEEN_WORD_SHARE of the distinct words of its title and
  description are not in the training vocabulary.

A signal that cannot be measured is listed in `not_checked` instead of being guessed: the item gave
no category or brand, or its model was trained on a dataset version cut before the statistics held
brands and vocabulary (schema 1).
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Case, F, JSONField, Q, Value, When

from inference.model_manager import LoadedModel
from products import dataset_stats
from registry.models import ModelVersion

SIGNALS: tuple[str, ...] = ("category", "brand", "vocabulary")


@dataclass(frozen=True)
class TrainingProfile:
    """What a model version's training data held, case-folded; None where its statistics do not say."""

    categories: frozenset[str] | None
    brands: frozenset[str] | None
    vocabulary: frozenset[str] | None

    @classmethod
    def from_statistics(cls, statistics: Mapping | None) -> TrainingProfile:
        statistics = statistics or {}
        categories = statistics.get("category_shares")
        brands = (statistics.get("brands") or {}).get("names")
        words = (statistics.get("vocabulary") or {}).get("words")
        return cls(
            categories=_folded(categories) if categories else None,
            brands=_folded(brands) if brands else None,
            vocabulary=frozenset(words) if words else None,
        )


UNKNOWN_PROFILE = TrainingProfile(categories=None, brands=None, vocabulary=None)
PROFILE_CACHE_SIZE = 8


def _folded(labels: Iterable[str]) -> frozenset[str]:
    return frozenset(label.strip().casefold() for label in labels)


# Profiles by dataset version (its id and creation time: a row never changes, and an id reused after
# a rollback comes with another time), so a process reads a dataset's statistics once, whichever
# model version or page asks.
_profiles_by_dataset: OrderedDict[tuple, TrainingProfile] = OrderedDict()
_profiles_lock = threading.Lock()


def training_profiles(*, model_version_ids: Iterable[int]) -> dict[int, TrainingProfile]:
    """The training profile of each model version (absent: no such version), in one query whatever
    the cache holds: the statistics column is read only for datasets this process has not read yet."""
    with _profiles_lock:
        cached = dict(_profiles_by_dataset)
    dataset = "training_run__dataset_version"
    statistics = F(f"{dataset}__statistics")
    if cached:
        already_read = Q()
        for dataset_id, created_at in cached:
            already_read |= Q(**{f"{dataset}_id": dataset_id, f"{dataset}__created_at": created_at})
        statistics = Case(When(already_read, then=Value(None, JSONField())), default=statistics)
    rows = (
        ModelVersion.objects.filter(id__in=set(model_version_ids))
        .annotate(training_statistics=statistics)
        .values_list("id", f"{dataset}_id", f"{dataset}__created_at", "training_statistics")
    )
    profiles, fresh = {}, {}
    for version_id, dataset_id, created_at, read in rows:
        key = (dataset_id, created_at)
        if key not in cached and key not in fresh:
            fresh[key] = TrainingProfile.from_statistics(read)
        profiles[version_id] = cached.get(key) or fresh[key]
    if fresh:
        with _profiles_lock:
            _profiles_by_dataset.update(fresh)
            while len(_profiles_by_dataset) > PROFILE_CACHE_SIZE:
                _profiles_by_dataset.popitem(last=False)
    return profiles


# The serving model's profile, kept with the loaded model: a request then costs no query at all.
_loaded_profiles: weakref.WeakKeyDictionary[LoadedModel, TrainingProfile] = weakref.WeakKeyDictionary()


def training_profile_of_loaded(*, loaded: LoadedModel) -> TrainingProfile:
    with _profiles_lock:
        profile = _loaded_profiles.get(loaded)
    if profile is None:
        profiles = training_profiles(model_version_ids=[loaded.version_id])
        profile = profiles.get(loaded.version_id, UNKNOWN_PROFILE)
        with _profiles_lock:
            _loaded_profiles[loaded] = profile
    return profile


def items_novelty(*, items: Sequence[Mapping], profile: TrainingProfile) -> list[dict]:
    """The novelty of each item (`{title, description, category?, brand?}`) against `profile`:
    `{"unlike_training_data", "unseen", "unseen_word_share", "not_checked"}`."""
    max_share = float(settings.CREATIVEOPS["NOVELTY_MAX_UNSEEN_WORD_SHARE"])
    words = dataset_stats.words_per_text(
        [f"{item.get('title') or ''}\n{item.get('description') or ''}" for item in items]
    )
    return [
        _novelty(item, item_words, profile, max_share) for item, item_words in zip(items, words, strict=True)
    ]


def _novelty(item: Mapping, words: frozenset[str], profile: TrainingProfile, max_share: float) -> dict:
    unseen, not_checked = [], []
    for signal, known in (("category", profile.categories), ("brand", profile.brands)):
        value = (item.get(signal) or "").strip().casefold()
        if not value or known is None:
            not_checked.append(signal)
        elif value not in known:
            unseen.append(signal)
    share = None
    if not words or profile.vocabulary is None:
        not_checked.append("vocabulary")
    else:
        share = round(len(words - profile.vocabulary) / len(words), 4)
        if share > max_share:
            unseen.append("vocabulary")
    return {
        "unlike_training_data": bool(unseen),
        "unseen": unseen,
        "unseen_word_share": share,
        "not_checked": not_checked,
    }


def creatives_attach_novelty(*, creatives: Sequence) -> None:
    """Set `creative.novelty` on each creative: is its product unlike the training data of the model
    version that wrote it? For the marketers' pages; one query for all the versions on a page."""
    profiles = training_profiles(model_version_ids=[creative.model_version_id for creative in creatives])
    by_version: dict[int, list] = {}
    for creative in creatives:
        by_version.setdefault(creative.model_version_id, []).append(creative)
    for version_id, group in by_version.items():
        profile = profiles.get(version_id, UNKNOWN_PROFILE)
        items = [
            {name: getattr(creative.product, name) for name in ("title", "description", "category", "brand")}
            for creative in group
        ]
        for creative, novelty in zip(group, items_novelty(items=items, profile=profile), strict=True):
            creative.novelty = novelty
