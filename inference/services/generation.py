"""Creatives from the production model: the one path the API, the marketer pages and the refresh share.

A creative is written for a channel (`training.ml.channels`): its token ends the model's prompt and
decoding keeps every output within the channel's limits. Only the `generic` channel is stored as
`Creative` rows (the marketers' table is that channel); the other channels' creatives are answered,
or gathered into asset sets (`inference.services.asset_sets`).
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction

from creativeops.core.errors import ApplicationError
from inference import live_experiments, metrics
from inference.batching import batcher_for, batching_enabled
from inference.model_manager import LoadedModel, model_get
from inference.models import Creative, ExperimentArm, PredictionLog
from inference.services.creatives import creatives_store
from inference.services.experiment_samples import ExperimentJob
from inference.services.novelty import items_novelty, training_profile_of_loaded
from products.models import Product, Tone
from training.ml.channels import CHANNELS, DEFAULT_CHANNEL, channel_ad, display_paths
from training.ml.formatting import product_noun

logger = logging.getLogger(__name__)

MIN_NEW_TOKENS = 8
DEFAULT_NEW_TOKENS = 64
ITEM_FIELDS = ("title", "description", "category", "brand", "price")
_HEADLINE_MAX = Creative._meta.get_field("headline").max_length
_CTA_MAX = Creative._meta.get_field("cta").max_length
_CATEGORY_MAX = PredictionLog._meta.get_field("category").max_length
# An undertrained model can emit any byte; control characters (NUL above all: PostgreSQL refuses it
# in text) never belong in copy.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class GenerationLimits:
    """The request limits, read from settings at call time (tests and operators may change them)."""

    max_batch: int
    max_variants: int
    min_new_tokens: int
    max_new_tokens: int
    default_new_tokens: int
    max_title_chars: int
    max_description_chars: int
    max_batch_tokens: int  # items × num_variants × max_new_tokens of one batch_predict request


def generation_limits() -> GenerationLimits:
    config = settings.CREATIVEOPS
    max_new_tokens = int(config["PREDICT_MAX_NEW_TOKENS"])
    return GenerationLimits(
        max_batch=int(config["PREDICT_MAX_BATCH"]),
        max_variants=int(config["PREDICT_MAX_VARIANTS"]),
        min_new_tokens=MIN_NEW_TOKENS,
        max_new_tokens=max_new_tokens,
        default_new_tokens=min(DEFAULT_NEW_TOKENS, max_new_tokens),
        max_title_chars=int(config["PREDICT_MAX_TITLE_CHARS"]),
        max_description_chars=int(config["PREDICT_MAX_DESCRIPTION_CHARS"]),
        max_batch_tokens=int(config["PREDICT_MAX_BATCH_TOKENS"]),
    )


@dataclass(frozen=True)
class GenerationResult:
    """What one generation call produced.

    `generated[i]` holds the `num_variants` creatives `{tone, headline, body, cta}` of `items[i]`,
    written for `channel`; `creatives` are the rows stored for the items that are catalog products
    (none for free text, none for a channel other than `generic`).
    `novelty[i]` says whether `items[i]` is unlike the model's training data (`inference.services.novelty`).
    """

    model_name: str
    model_version: int
    model_version_id: int
    generated: list[list[dict]]
    creatives: list[Creative]
    latency_ms: float
    pending_logs: list[PredictionLog] = field(default_factory=list)  # with defer_logging: not written yet
    novelty: list[dict] = field(default_factory=list)
    channel: str = DEFAULT_CHANNEL
    # the request's part in a running experiment, for `experiment_follow_up` after the response
    experiment_job: ExperimentJob | None = None


def product_item(product: Product) -> dict:
    """The model input of a stored product."""
    return {
        "title": product.title,
        "description": product.description,
        "category": product.category,
        "brand": product.brand,
        "price": float(product.price) if product.price is not None else None,
    }


def creatives_generate(
    *,
    items: Sequence[Mapping],
    tone: str | Sequence[str],
    num_variants: int = 1,
    max_new_tokens: int | None = None,
    endpoint: str,
    products: Sequence[Product | None] | None = None,
    source: str = Creative.Source.API,
    model_name: str | None = None,
    defer_logging: bool = False,
    channel: str = DEFAULT_CHANNEL,
    routing_key: str | None = None,
) -> GenerationResult:
    """Write creatives for `items` with the production model in ONE batched generation call.

    `channel` (`training.ml.channels.CHANNELS`) is what they are written for: every output keeps its
    limits. `tone` is one tone for every item or one per item. `products[i]`, when given and not None, is the
    stored product `items[i]` describes: its creatives are saved as `Creative` rows with `source`
    (a refresh never writes a (product, version, tone) twice: the database constraint drops the
    duplicate). Every item of an API or marketer request is logged as a `PredictionLog` row, the
    input sample drift detection compares with the training data; the catalog refresh is not, as it
    would only replay the training distribution.

    `defer_logging`: leave the PredictionLog rows in `result.pending_logs` for the caller to hand to
    `prediction_logs_submit` once the client has its answer (the API does so after the response is
    sent), so that no client waits on an analytics insert.

    Only `generic` creatives are stored as `Creative` rows: that table is the generic channel.

    `routing_key` (the client's API token or `X-Request-Key`) makes the call take part in the model's
    running experiment (`inference.live_experiments`): a canary client may be answered by the
    challenger (`model_version` says so), a shadow-drawn request gets `experiment_job` for the caller to
    hand to `experiment_follow_up` after the response. None (refresh, pages) takes no part.
    """
    limits = generation_limits()
    tones = _checked_request(items, tone, num_variants, products, source, channel, limits)
    max_new_tokens = limits.default_new_tokens if max_new_tokens is None else max_new_tokens
    if not limits.min_new_tokens <= max_new_tokens <= limits.max_new_tokens:
        raise ApplicationError(
            f"max_new_tokens must be from {limits.min_new_tokens} to {limits.max_new_tokens}, "
            f"got {max_new_tokens}.",
            field="max_new_tokens",
        )
    inputs = [_model_input(item) for item in items]
    started = time.perf_counter()
    production = model_get(name=model_name)
    route = live_experiments.route(model_name=production.name, routing_key=routing_key)
    on_challenger = route.arm == ExperimentArm.CHALLENGER
    try:
        loaded, generated = _generate_on_model(
            route.challenger if on_challenger else production,
            inputs,
            tones,
            num_variants,
            max_new_tokens,
            channel,
            arm=route.arm,
        )
    except ValueError as error:  # the model's own input check: a caller passed what it cannot read
        raise ApplicationError(str(error), field="items")
    seconds = time.perf_counter() - started
    generated = [[clean_creative(creative) for creative in variants] for variants in generated]
    latency_ms = round(seconds * 1000, 2)
    metrics.prediction_observe(
        model_version=loaded.version, endpoint=endpoint, items=len(inputs), seconds=seconds
    )
    job = None
    if route.active:
        metrics.experiment_request_observe(
            model_name=loaded.name,
            model_version=loaded.version,
            arm=route.arm,
            mode=route.mode,
            seconds=seconds,
        )
        job = ExperimentJob(
            route=route,
            model_name=loaded.name,
            endpoint=endpoint,
            channel=channel,
            max_new_tokens=max_new_tokens,
            items=inputs,
            tones=tones,
            skus=[
                product.sku if product is not None else "" for product in (products or [None] * len(inputs))
            ],
            answered=[variants[0] for variants in generated],
            latency_ms=latency_ms,
        )

    novelty = items_novelty(items=inputs, profile=training_profile_of_loaded(loaded=loaded))
    logs = (
        _prediction_logs(inputs, tones, novelty, loaded.version_id, endpoint, latency_ms)
        if source != Creative.Source.REFRESH
        else []
    )
    pending = logs if defer_logging else []
    logs = [] if defer_logging else logs
    rows = (
        _creative_rows(generated, products, loaded.version_id, source) if channel == DEFAULT_CHANNEL else []
    )
    # One transaction only when there are two writes: `creatives_store` alone is atomic by itself.
    with transaction.atomic() if logs and rows else contextlib.nullcontext():
        if logs:
            PredictionLog.objects.bulk_create(logs)
        stored = creatives_store(rows=rows, source=source)
    return GenerationResult(
        model_name=loaded.name,
        model_version=loaded.version,
        model_version_id=loaded.version_id,
        generated=generated,
        creatives=stored,
        latency_ms=latency_ms,
        pending_logs=pending,
        novelty=novelty,
        channel=channel,
        experiment_job=job,
    )


def creatives_as_ads(
    *, channel: str, items: Sequence[Mapping], generated: list[list[dict]]
) -> list[list[dict]]:
    """Each creative of `generated` (as `creatives_generate` returns them for `items`) with `ad`: its
    outputs as the channel's fields (`channel_ad`), with the display paths of its item's category and
    noun for a search ad."""
    written_for = CHANNELS[channel]
    has_paths = any(field.name == "path" for field in written_for.fields)
    ads = []
    for item, variants in zip(items, generated, strict=True):
        paths = item_display_paths(item) if has_paths else []
        ads.append([{**creative, "ad": channel_ad(written_for, creative, paths)} for creative in variants])
    return ads


def item_display_paths(item: Mapping) -> list[str]:
    """The two display paths of a product (`training.ml.channels.display_paths`)."""
    noun = product_noun(item.get("title"), item.get("brand"), item.get("description"))
    return display_paths(str(item.get("category") or ""), noun)


def _generate_on_model(
    loaded: LoadedModel,
    inputs,
    tones,
    num_variants: int,
    max_new_tokens: int,
    channel: str,
    *,
    arm: str = ExperimentArm.CHAMPION,
):
    """(the model that wrote them, the creatives): through this process's batcher, where concurrent
    requests of one model share one generation (inference/batching.py; `arm` says whether `loaded` is
    production's or a canary's challenger), or on `loaded` directly when batching is off."""
    from training.ml.generator import GenerationRequest

    request = GenerationRequest(inputs, tones, num_variants, max_new_tokens, channel=channel)
    if not batching_enabled():
        return loaded, loaded.generator.generate_many([request])[0]
    answer = batcher_for(loaded.name).submit(request, loaded=loaded, arm=arm)
    return answer.loaded, answer.generated


def _checked_request(
    items, tone, num_variants, products, source, channel, limits: GenerationLimits
) -> list[str]:
    if channel not in CHANNELS:
        raise ApplicationError(
            f"Unknown channel {channel!r}; allowed channels: {', '.join(CHANNELS)}.", field="channel"
        )
    if not items:
        raise ApplicationError("Give at least one item to write creatives for.", field="items")
    if len(items) > limits.max_batch:
        raise ApplicationError(
            f"A request may hold at most {limits.max_batch} items; got {len(items)}.", field="items"
        )
    if isinstance(num_variants, bool) or not isinstance(num_variants, int):
        raise ApplicationError("num_variants must be an integer.", field="num_variants")
    if not 1 <= num_variants <= limits.max_variants:
        raise ApplicationError(
            f"num_variants must be from 1 to {limits.max_variants}, got {num_variants}.", field="num_variants"
        )
    tones = [tone] * len(items) if isinstance(tone, str) else list(tone)
    if len(tones) != len(items):
        raise ApplicationError(f"Got {len(tones)} tones for {len(items)} items.", field="tone")
    for value in tones:
        if value not in Tone.values:
            raise ApplicationError(
                f"Unknown tone {value!r}; allowed tones: {', '.join(Tone.values)}.", field="tone"
            )
    if products is not None and len(products) != len(items):
        raise ApplicationError(f"Got {len(products)} products for {len(items)} items.", field="products")
    if source not in Creative.Source.values:
        raise ApplicationError(
            f"Unknown source {source!r}; allowed: {', '.join(Creative.Source.values)}.", field="source"
        )
    return tones


def _model_input(item: Mapping) -> dict:
    """Only the fields the model reads, with the price as a float (Decimal is what forms give)."""
    values = {name: item.get(name) for name in ITEM_FIELDS}
    if values["price"] is not None and not isinstance(values["price"], bool):
        try:
            values["price"] = float(values["price"])
        except (TypeError, ValueError):
            raise ApplicationError(f"price must be a number, got {values['price']!r}.", field="price")
    return values


def clean_creative(creative: dict) -> dict:
    """Control characters out, runs of whitespace made one space (an undertrained model emits any byte)."""
    return {
        name: " ".join(_CONTROL_CHARACTERS.sub(" ", value).split()) if isinstance(value, str) else value
        for name, value in creative.items()
    }


def _prediction_logs(
    inputs, tones, novelty, version_id: int, endpoint: str, latency_ms: float
) -> list[PredictionLog]:
    return [
        PredictionLog(
            model_version_id=version_id,
            endpoint=endpoint,
            category=(item.get("category") or "")[:_CATEGORY_MAX],
            price=round(item["price"], 2) if item.get("price") is not None else None,
            title_length=len(item.get("title") or ""),
            description_length=len(item.get("description") or ""),
            tone=item_tone,
            latency_ms=latency_ms,
            unseen_category="category" in item_novelty["unseen"],
            unseen_brand="brand" in item_novelty["unseen"],
            unseen_vocabulary="vocabulary" in item_novelty["unseen"],
        )
        for item, item_tone, item_novelty in zip(inputs, tones, novelty, strict=True)
    ]


def _creative_rows(generated, products, version_id: int, source: str) -> list[Creative]:
    if not products:
        return []
    return [
        Creative(
            product=product,
            model_version_id=version_id,
            tone=creative["tone"],
            headline=creative["headline"][:_HEADLINE_MAX],
            body=creative["body"],
            cta=creative["cta"][:_CTA_MAX],
            source=source,
        )
        for product, variants in zip(products, generated, strict=True)
        if product is not None
        for creative in variants
    ]
