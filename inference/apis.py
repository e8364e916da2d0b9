"""Creatives over REST: one product, a batch, and what is being served. Thin views over the services."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

from django.core.exceptions import ImproperlyConfigured
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from creativeops.core.api import first_error
from creativeops.core.errors import ApplicationError
from inference import selectors, services
from inference.live_experiments import ROUTING_KEY_MAX_CHARS
from inference.model_manager import model_get
from inference.models import Creative
from inference.serializers import (
    ASSET_SET_OUTPUT_SERIALIZERS,
    ASSET_SET_REQUEST_SCHEMA,
    ASSET_SET_RESPONSE_SCHEMA,
    DEFAULT_TONE,
    PREDICT_REQUEST_SCHEMA,
    AssetSetInputSerializer,
    BatchPredictInputSerializer,
    BatchPredictOutputSerializer,
    ChannelListOutputSerializer,
    ErrorSerializer,
    PredictInputSerializer,
    PredictItemSerializer,
    PredictOutputSerializer,
    asset_set_body,
)
from inference.services.asset_sets import asset_sets_generate
from inference.services.experiment_samples import experiment_follow_up
from inference.services.generation import creatives_as_ads

logger = logging.getLogger(__name__)

ENDPOINT_PREDICT = "predict"
ENDPOINT_BATCH = "batch_predict"
CHANNELS_NOTE = (
    " `channel` (default `generic`; GET /api/v1/channels lists them with their limits) is what the "
    "creatives are written for: every headline, body and call to action keeps the channel's limits, and "
    "each creative's `ad` gives it as the channel's fields (a search ad's headlines, description and "
    "display paths; a Meta feed ad's primary text, headline, link description and button). Only "
    "`generic` creatives of a stored product are stored for the marketers; an unknown channel is a 400 "
    "naming the allowed ones."
)

EXPERIMENT_NOTE = (
    " While an experiment runs (GET /api/v1/models/{name}/experiments), a canary answers a stable share of "
    "clients with the challenger (chosen by the API token, or by the `X-Request-Key` header when sent, "
    "1–200 characters): `model_version` says which version answered. A shadow runs a share of requests "
    "on the challenger too, after the answer is sent: the answer is production's."
)


class TokenScopedRateThrottle(ScopedRateThrottle):
    """ScopedRateThrottle that reads the rates at request time (settings REST_FRAMEWORK, per scope).

    DRF's own class copies the rates when it is imported, so a changed setting (or a test override)
    would be ignored. Authenticated clients are counted per user, i.e. per API token.
    """

    def get_rate(self):
        try:
            return api_settings.DEFAULT_THROTTLE_RATES[self.scope]
        except KeyError:
            raise ImproperlyConfigured(f"No throttle rate set for scope {self.scope!r} in REST_FRAMEWORK.")

    def allow_request(self, request, view):
        """Fail open: the counters live in the cache, and a cache outage must not stop the API."""
        try:
            return super().allow_request(request, view)
        except Exception:
            logger.warning("Throttle %r skipped: the cache could not be reached", self.scope, exc_info=True)
            return True


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


COMMON_ERRORS = {
    400: _error("Invalid input: the message names the field and the limit; `details` has every field."),
    401: _error("No or unknown API token (header `Authorization: Token <key>`)."),
    413: _error("Request body larger than API_MAX_BODY_BYTES."),
    415: _error("The body is not `application/json`."),
    429: _error("Rate limit of this token reached; `wait` says for how long (also the Retry-After header)."),
    503: _error("No model is in production yet, or the production model could not be loaded."),
}

CREATIVE_EXAMPLE = {
    "tone": "bold",
    "headline": "Meet the Ridgeway backpack",
    "body": "Ripstop nylon build, 30 L and it sheds rain.",
    "cta": "Get yours",
    "ad": {
        "headline": ["Meet the Ridgeway backpack"],
        "body": ["Ripstop nylon build, 30 L and it sheds rain."],
        "cta": ["Get yours"],
    },
}
NOVELTY_EXAMPLE = {
    "unlike_training_data": True,
    "unseen": ["brand", "vocabulary"],
    "unseen_word_share": 0.42,
    "not_checked": [],
}
ITEM_EXAMPLE = {
    "title": "Ridgeway Ripstop Nylon Backpack 30 L",
    "description": "The Ridgeway backpack is made from ripstop nylon and sheds rain. 30 L, 3-year warranty.",
    "category": "outdoor",
    "brand": "Ridgeway",
    "price": 89.99,
}


def _predict_items(raw_items: list, default_tone: str) -> tuple[list[dict], list[dict | None]]:
    """Validate each batch item on its own: (results with errors filled in, valid items or None)."""
    results: list[dict] = []
    valid: list[dict | None] = []
    # One serializer validates every item, as DRF's ListSerializer does with its child: its fields
    # (and the limits they carry) are built once per request, not once per item.
    validator = PredictItemSerializer()
    for index, raw in enumerate(raw_items):
        try:
            data = validator.run_validation(raw)
        except serializers.ValidationError as error:
            errors = error.detail
        else:
            results.append({"index": index})
            valid.append({"tone": default_tone, **data})
            continue
        message, field = first_error(errors)
        results.append({"index": index, "error": {"message": message, "field": field}})
        valid.append(None)
    products = selectors.products_by_sku(item["sku"] for item in valid if item and "sku" in item)
    for index, item in enumerate(valid):
        if item and "sku" in item and item["sku"] not in products:
            results[index]["error"] = {"message": _unknown_sku(item["sku"]), "field": "sku"}
            valid[index] = None
        elif item and "sku" in item:
            item["product"] = products[item["sku"]]
    return results, valid


def _unknown_sku(sku: str) -> str:
    return f"Unknown sku {sku!r}: no stored product has it."


class AfterResponse(Response):
    """A Response that runs work once the WSGI server has sent it (Django calls `close()` then), for
    writes the client need not wait for. Runs before Django's own close, on the request's connection."""

    def __init__(self, *args, after: Callable[[], None] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._after = after

    def close(self):
        try:
            if self._after is not None:
                self._after()
        finally:
            super().close()


def _after_response(result) -> None:
    try:
        services.prediction_logs_submit(logs=result.pending_logs)
    finally:
        job = getattr(result, "experiment_job", None)  # predictions only: asset sets take no part
        if job is not None:
            experiment_follow_up(job)


def _respond(body: dict, result) -> AfterResponse:
    return AfterResponse(body, after=partial(_after_response, result))


ROUTING_HEADER = "X-Request-Key"


def routing_key(request: Request) -> str:
    """Who the client is for a canary: its `X-Request-Key` header when sent (a storefront passing its
    visitor's id keeps each visitor on one version), else its API token."""
    header = request.headers.get(ROUTING_HEADER)
    if header is not None:
        header = header.strip()
        if not header or len(header) > ROUTING_KEY_MAX_CHARS:
            raise ApplicationError(
                f"{ROUTING_HEADER} must be 1 to {ROUTING_KEY_MAX_CHARS} characters; got {len(header)}.",
                field=ROUTING_HEADER,
            )
        return f"header:{header}"
    token = getattr(request.auth, "key", None)
    if token:
        return f"token:{token}"
    return f"user:{request.user.pk}"


def _generate(
    items: list[dict],
    *,
    num_variants: int,
    max_new_tokens: int,
    channel: str,
    endpoint: str,
    routing: str | None = None,
):
    """One batched call for every valid item; the stored products' generic creatives are saved.
    Returns the result and each item's creatives with their `ad`."""
    inputs = [services.product_item(item["product"]) if item.get("product") else item for item in items]
    result = services.creatives_generate(
        items=inputs,
        tone=[item["tone"] for item in items],
        num_variants=num_variants,
        max_new_tokens=max_new_tokens,
        endpoint=endpoint,
        products=[item.get("product") for item in items],
        source=Creative.Source.API,
        defer_logging=True,
        channel=channel,
        routing_key=routing,
    )
    return result, creatives_as_ads(channel=channel, items=inputs, generated=result.generated)


def _stored_product(sku: str):
    product = selectors.products_by_sku([sku]).get(sku)
    if product is None:
        raise ApplicationError(_unknown_sku(sku), field="sku", status_code=404)
    return product


class PredictApi(APIView):
    throttle_classes = [TokenScopedRateThrottle]
    throttle_scope = "predict"

    @extend_schema(
        operation_id="predict",
        summary="Creatives for one product",
        description=(
            "Write `num_variants` creatives (headline, body, call to action) for one product in one tone "
            "with the production model. Give the product's text, or the `sku` of a stored product (its "
            "creatives are then stored for the marketers). The first variant is the model's best guess; "
            "further variants are sampled. `novelty` says whether the product's category, brand or "
            "vocabulary is unlike the serving model's training data, where such copy is least reliable."
            + CHANNELS_NOTE
            + EXPERIMENT_NOTE
        ),
        request=PREDICT_REQUEST_SCHEMA,
        responses={
            200: PredictOutputSerializer,
            404: _error("`sku` names no stored product."),
            **COMMON_ERRORS,
        },
        examples=[
            OpenApiExample(
                "Free text", value={**ITEM_EXAMPLE, "tone": "bold", "num_variants": 2}, request_only=True
            ),
            OpenApiExample("Stored product", value={"sku": "SKU-00042", "tone": "luxury"}, request_only=True),
            OpenApiExample(
                "Creatives",
                value={
                    "model_name": "creative-generator",
                    "model_version": 3,
                    "channel": "generic",
                    "creatives": [CREATIVE_EXAMPLE],
                    "novelty": NOVELTY_EXAMPLE,
                    "latency_ms": 41.7,
                },
                response_only=True,
                status_codes=["200"],
            ),
            OpenApiExample(
                "Title too long",
                value={
                    "error": {
                        "message": "title: Ensure this field has no more than 200 characters.",
                        "details": {"title": ["Ensure this field has no more than 200 characters."]},
                    }
                },
                response_only=True,
                status_codes=["400"],
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = PredictInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        num_variants, max_new_tokens = data.pop("num_variants"), data.pop("max_new_tokens")
        channel = data.pop("channel")
        data.setdefault("tone", DEFAULT_TONE)
        if "sku" in data:
            data["product"] = _stored_product(data["sku"])
        result, creatives = _generate(
            [data],
            num_variants=num_variants,
            max_new_tokens=max_new_tokens,
            channel=channel,
            endpoint=ENDPOINT_PREDICT,
            routing=routing_key(request),
        )
        body = {
            "model_name": result.model_name,
            "model_version": result.model_version,
            "channel": channel,
            "creatives": creatives[0],
            "novelty": result.novelty[0],
            "latency_ms": result.latency_ms,
        }
        return _respond(PredictOutputSerializer(body).data, result)


class BatchPredictApi(APIView):
    throttle_classes = [TokenScopedRateThrottle]
    throttle_scope = "batch_predict"

    @extend_schema(
        operation_id="batch_predict",
        summary="Creatives for a batch of products",
        description=(
            "Up to PREDICT_MAX_BATCH items, generated together in one batch on the model; items × "
            "num_variants × max_new_tokens is at most PREDICT_MAX_BATCH_TOKENS (see /info `limits`). "
            "A process generates one batch at a time (PREDICT_BATCH_CONCURRENCY): another batch is "
            "answered 503 with Retry-After, so that single predictions never wait behind a queue of "
            "batches. Each item is "
            "validated on its own: a refused item gets `error` (message and field) in its result and the "
            "others are still generated. `results` follow the request order (`index`). An item may name "
            "its own `tone`; the batch's `tone` applies to the others. Each generated item carries "
            "`novelty`, as in predict." + CHANNELS_NOTE + EXPERIMENT_NOTE
        ),
        request=BatchPredictInputSerializer,
        responses={
            200: BatchPredictOutputSerializer,
            **COMMON_ERRORS,
            503: _error(
                "No model is in production or it could not be loaded; or this process is already "
                "generating a batch (PREDICT_BATCH_CONCURRENCY): retry after Retry-After seconds."
            ),
        },
        examples=[
            OpenApiExample(
                "Two items",
                value={
                    "items": [ITEM_EXAMPLE, {"sku": "SKU-00042", "tone": "value"}],
                    "tone": "bold",
                    "channel": "generic",
                },
                request_only=True,
            ),
            OpenApiExample(
                "Results in request order",
                value={
                    "model_name": "creative-generator",
                    "model_version": 3,
                    "channel": "generic",
                    "results": [
                        {"index": 0, "creatives": [CREATIVE_EXAMPLE], "novelty": NOVELTY_EXAMPLE},
                        {
                            "index": 1,
                            "error": {
                                "message": "Unknown sku 'SKU-00042': no stored product has it.",
                                "field": "sku",
                            },
                        },
                    ],
                    "latency_ms": 63.2,
                },
                response_only=True,
                status_codes=["200"],
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = BatchPredictInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        results, items = _predict_items(data["items"], data["tone"])
        valid = [(index, item) for index, item in enumerate(items) if item is not None]
        result = None
        if valid:
            with services.batch_generation_slot():  # 503 when this process is already generating a batch
                result, generated = _generate(
                    [item for _index, item in valid],
                    num_variants=data["num_variants"],
                    max_new_tokens=data["max_new_tokens"],
                    channel=data["channel"],
                    endpoint=ENDPOINT_BATCH,
                    routing=routing_key(request),
                )
            answers = zip(valid, generated, result.novelty, strict=True)
            for (index, _item), creatives, novelty in answers:
                results[index].update(creatives=creatives, novelty=novelty)
            model_name, model_version, latency_ms = result.model_name, result.model_version, result.latency_ms
        else:
            # Nothing to generate; still say which version would have answered (503 when none).
            loaded = model_get()
            model_name, model_version, latency_ms = loaded.name, loaded.version, 0.0
        body = {
            "model_name": model_name,
            "model_version": model_version,
            "channel": data["channel"],
            "results": results,
            "latency_ms": latency_ms,
        }
        output = BatchPredictOutputSerializer(body).data
        return _respond(output, result) if result is not None else Response(output)


GOOGLE_SEARCH_SET_EXAMPLE = {
    "model_name": "creative-generator",
    "model_version": 3,
    "channel": "google_search",
    "headlines": ["Ridgeway Backpack", "Ripstop Nylon, Sheds Rain", "Pack Light for the Trail"],
    "descriptions": ["The Ridgeway backpack is made from ripstop nylon and sheds rain. 30 L."],
    "paths": ["Outdoor", "Backpack"],
    "lint": [],
    "problems": ["3 distinct headlines, fewer than 8", "1 distinct descriptions, fewer than 3"],
    "latency_ms": 88.1,
}


class AssetSetApi(APIView):
    throttle_classes = [TokenScopedRateThrottle]
    throttle_scope = "predict"  # one product's set is one product's predictions, in every tone

    @extend_schema(
        operation_id="asset_set_generate",
        summary="An ad's asset set for one product",
        description=(
            "The production model writes the product's creative for `channel` in every tone (one "
            "batched generation), and the distinct ones become the assets of one ad, completed from the "
            "product's own facts where the writing leaves it short. `google_search` (the default): a "
            "responsive search ad's headlines (each ≤ 30 characters), descriptions (≤ 90) and 2 display "
            "paths (≤ 15); `meta_feed`: a feed ad's primary texts (≤ 125), headlines (≤ 40), link "
            "descriptions (≤ 30) and call-to-action button. The answer's keys follow `channel` (the "
            "`AssetSet` schema is one of `GoogleSearchAssetSet`, `MetaFeedAssetSet`). `lint` lists what "
            "an ad platform would reject in any asset, `problems` why the set is not complete (empty: it "
            "is). Give the product's text, as in predict, or the `sku` of a stored product: its set is "
            "then stored with the model version (replacing the one that version wrote before) for the "
            "marketers' pages and exports. `generic` has no asset set: a 400 naming the channels that do."
        ),
        request=ASSET_SET_REQUEST_SCHEMA,
        responses={
            200: ASSET_SET_RESPONSE_SCHEMA,
            404: _error("`sku` names no stored product."),
            **COMMON_ERRORS,
        },
        examples=[
            OpenApiExample(
                "Free text", value={**ITEM_EXAMPLE, "channel": "google_search"}, request_only=True
            ),
            OpenApiExample(
                "Stored product", value={"sku": "SKU-00042", "channel": "meta_feed"}, request_only=True
            ),
            OpenApiExample(
                "Search ad assets", value=GOOGLE_SEARCH_SET_EXAMPLE, response_only=True, status_codes=["200"]
            ),
            OpenApiExample(
                "A channel without asset sets",
                value={
                    "error": {
                        "message": 'channel: Channel "generic" has no asset sets; allowed channels: '
                        "google_search, meta_feed.",
                        "field": "channel",
                        "details": {
                            "channel": [
                                'Channel "generic" has no asset sets; allowed channels: google_search, '
                                "meta_feed."
                            ]
                        },
                    }
                },
                response_only=True,
                status_codes=["400"],
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = AssetSetInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        channel = data.pop("channel")
        if "sku" in data:
            result = asset_sets_generate(
                products=[_stored_product(data["sku"])], channel=channel, defer_logging=True
            )
        else:
            result = asset_sets_generate(items=[data], channel=channel, defer_logging=True)
        written = result.sets[0]
        body = {
            "model_name": result.model_name,
            "model_version": result.model_version,
            "channel": channel,
            **asset_set_body(channel=channel, assets=written.assets),
            "lint": written.lint,
            "problems": written.problems,
            "latency_ms": result.latency_ms,
        }
        return _respond(ASSET_SET_OUTPUT_SERIALIZERS[channel](body).data, result)


def _info_serializer():
    nullable_object = {"allow_null": True}
    return inline_serializer(
        name="ModelInfo",
        fields={
            "model_name": serializers.CharField(),
            "production": inline_serializer(
                name="ProductionVersion",
                fields={
                    "version": serializers.IntegerField(),
                    "promoted_at": serializers.DateTimeField(allow_null=True),
                    "promoted_by": serializers.CharField(allow_null=True),
                    "metrics": serializers.DictField(child=serializers.JSONField()),
                    "dataset_version": serializers.IntegerField(allow_null=True),
                    "training_run": serializers.IntegerField(),
                    "preset": serializers.CharField(),
                    "parameter_count": serializers.IntegerField(allow_null=True),
                    "artifact_sha256": serializers.CharField(),
                },
                **nullable_object,
            ),
            "serving": inline_serializer(
                name="ServingVersion",
                fields={
                    "version": serializers.IntegerField(),
                    "artifact_sha256": serializers.CharField(),
                    "loaded_at": serializers.DateTimeField(),
                    "load_seconds": serializers.FloatField(),
                    "preset": serializers.CharField(allow_null=True),
                    "parameter_count": serializers.IntegerField(),
                },
                **nullable_object,
            ),
            "load_failure": serializers.CharField(allow_null=True),
            "limits": inline_serializer(
                name="PredictLimits",
                fields={
                    "max_batch": serializers.IntegerField(),
                    "max_variants": serializers.IntegerField(),
                    "min_new_tokens": serializers.IntegerField(),
                    "max_new_tokens": serializers.IntegerField(),
                    "max_title_chars": serializers.IntegerField(),
                    "max_description_chars": serializers.IntegerField(),
                    "max_batch_tokens": serializers.IntegerField(
                        help_text="items × num_variants × max_new_tokens allowed in one batch_predict."
                    ),
                    "tones": serializers.ListField(child=serializers.CharField()),
                },
            ),
        },
    )


class ModelInfoApi(APIView):
    # Documentation of the selector's dict, which is rendered as it is.
    output_schema = _info_serializer()

    @extend_schema(
        operation_id="model_info",
        summary="The production model and the one this process serves",
        description=(
            "The version in production (since when, its metrics, dataset version, preset, parameter count) "
            "and the version loaded in the answering process, which lags a promotion by up to "
            "MODEL_CHECK_INTERVAL_SECONDS. `load_failure` explains a version that could not be loaded. "
            "`limits` are the request limits of the predict endpoints."
        ),
        responses={200: output_schema, 401: COMMON_ERRORS[401]},
    )
    def get(self, request: Request) -> Response:
        return Response(selectors.model_info())


class ChannelListApi(APIView):
    @extend_schema(
        operation_id="channel_list",
        summary="The channels a creative can be written for, with their limits",
        description=(
            "Each channel's fields with the most characters a value may have (a double-width character "
            "counts two where `wide_characters_count_double`), how many values one ad takes (a Google "
            "responsive search ad: 3–15 headlines, 2–4 descriptions) and, for Meta's call to action, "
            "the buttons it accepts. Defined once in `training.ml.channels`."
        ),
        responses={200: ChannelListOutputSerializer, 401: COMMON_ERRORS[401]},
    )
    def get(self, request: Request) -> Response:
        return Response(ChannelListOutputSerializer(selectors.channel_list()).data)
