"""Asset sets: what one product's ad takes on a platform that mixes its assets itself (a Google
responsive search ad's 3–15 headlines and 2–4 descriptions, a Meta flexible ad's texts), written by
the production model and stored per (product, model version, channel).

The model writes the product's creative for the channel in every tone (one batched generation for
all products × tones); `training.ml.asset_sets` gathers them into the set, keeps only distinct values
and completes a short set from the product's own facts. Every asset is checked against its channel's
rules and the ad-policy lint, and the findings are stored with the set, as a creative's are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from creativeops.core.errors import ApplicationError
from inference.models import AssetSet, Creative, PredictionLog
from inference.services.generation import ITEM_FIELDS, creatives_generate, generation_limits, product_item
from inference.services.prediction_logs import prediction_logs_write
from products.models import Product, Tone
from training.ml.asset_sets import asset_findings, asset_set_build, asset_set_problems
from training.ml.channels import CHANNELS, Channel
from training.ml.formatting import source_text

# The channels whose ads take a set of assets (`training.ml.asset_sets.asset_set_build`).
ASSET_SET_CHANNELS = ("google_search", "meta_feed")
ASSET_SETS_ENDPOINT = "asset_sets"


@dataclass(frozen=True)
class WrittenAssetSet:
    """One product's set: channel field -> values, the findings on them, why it is incomplete."""

    assets: dict[str, list[str]]
    lint: list[dict]
    problems: list[str]
    row: AssetSet | None = None  # the stored row, for a catalog product


@dataclass(frozen=True)
class AssetSetsResult:
    model_name: str
    model_version: int
    model_version_id: int
    channel: str
    sets: list[WrittenAssetSet]  # in the order of the products (or items) given
    latency_ms: float
    pending_logs: list[PredictionLog] = field(default_factory=list)  # with defer_logging: not written yet


def unknown_asset_set_channel(channel: object) -> str:
    """The refusal of a channel without asset sets: the API's serializer and the service say the same."""
    return f'Channel "{channel}" has no asset sets; allowed channels: {", ".join(ASSET_SET_CHANNELS)}.'


def asset_sets_generate(
    *,
    products: Sequence[Product] | None = None,
    items: Sequence[Mapping] | None = None,
    channel: str,
    model_name: str | None = None,
    source: str = Creative.Source.API,
    defer_logging: bool = False,
) -> AssetSetsResult:
    """Write the `channel` asset set of each product (stored catalog products) or item (free text)
    with the production model, in ONE generation call for all of them × every tone.

    The sets of `products` are saved, each replacing the set of its (product, version, channel): a
    repeat, or two requests at once, leave one row. Requests other than the refresh (`source`) log one
    PredictionLog row per product, the drift sample, not one per tone; `defer_logging` leaves them
    in `pending_logs` for the caller to submit once the client has its answer.
    """
    if (products is None) == (items is None):
        raise ApplicationError("Give either products or items to write asset sets for.", field="items")
    if channel not in ASSET_SET_CHANNELS:
        raise ApplicationError(unknown_asset_set_channel(channel), field="channel")
    inputs = (
        [product_item(product) for product in products]
        if products is not None
        else [{name: item.get(name) for name in ITEM_FIELDS} for item in items]
    )
    tones = list(Tone.values)
    _check_size(len(inputs), len(tones))
    result = creatives_generate(
        items=[item for item in inputs for _tone in tones],
        tone=tones * len(inputs),
        endpoint=ASSET_SETS_ENDPOINT,
        source=source,
        model_name=model_name,
        defer_logging=True,
        channel=channel,
    )
    written_for = CHANNELS[channel]
    sets = []
    for index, item in enumerate(inputs):
        creatives = [
            variants[0] for variants in result.generated[index * len(tones) : (index + 1) * len(tones)]
        ]
        built = asset_set_build(written_for, item, creatives)
        lint = asset_set_lint(channel=written_for, assets=built.assets, item=item)
        sets.append(WrittenAssetSet(built.assets, lint, asset_set_problems(built, item)))
    if products is not None:
        sets = _store(products, sets, result.model_version_id, channel)
    logs = result.pending_logs[:: len(tones)]  # the rows of each product's first tone
    if not defer_logging:
        prediction_logs_write(logs=logs)
    return AssetSetsResult(
        model_name=result.model_name,
        model_version=result.model_version,
        model_version_id=result.model_version_id,
        channel=channel,
        sets=sets,
        latency_ms=result.latency_ms,
        pending_logs=logs if defer_logging else [],
    )


def _check_size(products: int, tones: int) -> None:
    max_batch = generation_limits().max_batch
    if products * tones > max_batch:
        raise ApplicationError(
            f"Asset sets of at most {max_batch // tones} products are written at once ({tones} tones "
            f"each, PREDICT_MAX_BATCH {max_batch}); got {products}.",
            field="items",
        )


def asset_set_lint(*, channel: Channel, assets: Mapping[str, list[str]], item: Mapping) -> list[dict]:
    """Findings on every asset of a set for `item` (`training.ml.asset_sets.asset_findings`)."""
    return asset_findings(channel, assets, source_text(item))


def _store(
    products: Sequence[Product], sets: list[WrittenAssetSet], version_id: int, channel: str
) -> list[WrittenAssetSet]:
    """Save or replace the sets in one upsert on the (product, version, channel) constraint: two
    writers at once leave one row, the last one's. Rows go in product order, so that concurrent
    writers of overlapping products take the index locks in the same order and never deadlock."""
    rows = {
        product.pk: AssetSet(
            product=product,
            model_version_id=version_id,
            channel=channel,
            assets=written.assets,
            lint=written.lint,
            problems=written.problems,
        )
        for product, written in zip(products, sets, strict=True)
    }  # a product given twice is written once (an upsert may not touch a row twice)
    AssetSet.objects.bulk_create(
        [rows[product_id] for product_id in sorted(rows)],
        update_conflicts=True,
        unique_fields=["product", "model_version", "channel"],
        update_fields=["assets", "lint", "problems", "created_at"],
    )
    return [
        WrittenAssetSet(written.assets, written.lint, written.problems, rows[product.pk])
        for product, written in zip(products, sets, strict=True)
    ]
