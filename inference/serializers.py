"""Request fields of the predict endpoints: strict JSON types, the limits named in every refusal.

The limits come from `settings.CREATIVEOPS` at request time (`generation_limits()`), so the
documented schema, the validation and the service always agree on them.
"""

from __future__ import annotations

import math

from drf_spectacular.extensions import OpenApiSerializerExtension, OpenApiSerializerFieldExtension
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from creativeops.core.api import PlainTextField
from inference.services import generation_limits
from inference.services.asset_sets import ASSET_SET_CHANNELS, unknown_asset_set_channel
from inference.services.novelty import SIGNALS as NOVELTY_SIGNALS
from products.models import Product, Tone
from training.ml.channels import CHANNELS, DEFAULT_CHANNEL

TONE_CHOICES = Tone.values
DEFAULT_TONE = Tone.BOLD.value
DEFAULT_ASSET_SET_CHANNEL = "google_search"
PRICE_MAX = 99_999_999.99  # ten digits, two of them decimals: what a stored price can hold
SKU_MAX = Product._meta.get_field("sku").max_length
CATEGORY_MAX = Product._meta.get_field("category").max_length
BRAND_MAX = Product._meta.get_field("brand").max_length
ITEM_FIELDS = ("sku", "title", "description", "category", "brand", "price", "tone")
PRODUCT_FIELDS = ("title", "description", "category", "brand", "price")


def _json_type(value) -> str:
    if value is None:
        return "null"
    return {
        bool: "boolean",
        int: "number",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
    }.get(type(value), type(value).__name__)


class StrictCharField(PlainTextField):
    """A JSON string, nothing else: DRF would turn 123 into "123" and hide a client's bug."""

    default_error_messages = {
        "not_a_string": "Must be a string, got a {type}.",
        "invalid_text": "Contains characters that are not valid Unicode text.",
    }

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string", type=_json_type(data))
        try:
            data.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate ("\ud800") would fail later, in the database
            self.fail("invalid_text")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    default_error_messages = {"invalid": "Must be an integer, got a {type}."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid", type=_json_type(data))
        if isinstance(data, float) and not (math.isfinite(data) and data.is_integer()):
            self.fail("invalid", type="fractional number")
        return super().to_internal_value(int(data))


class StrictFloatField(serializers.FloatField):
    """A JSON number within [min_value, max_value]. Every refusal of a bounded field (a string, a
    boolean, 1e400 that JSON reads as infinity, a number out of range) gives the one message naming
    the range, so a client learns the rule from any mistake."""

    default_error_messages = {"invalid": "Must be a number, got a {type}."}

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        low, high = self.min_value, self.max_value
        self.range_message = None
        if low is not None and high is not None:
            self.range_message = f"Must be a number from {low} to {high}."

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            if self.range_message:
                raise serializers.ValidationError(self.range_message, code="invalid")
            self.fail("invalid", type=_json_type(data))
        if isinstance(data, float) and not math.isfinite(data):  # an int is finite, however long
            raise serializers.ValidationError(
                self.range_message or "Must be a finite number.", code="invalid"
            )
        if self.range_message and not self.min_value <= data <= self.max_value:
            raise serializers.ValidationError(self.range_message, code="invalid")
        return super().to_internal_value(data)


def tone_field(**options) -> serializers.ChoiceField:
    allowed = ", ".join(TONE_CHOICES)
    return serializers.ChoiceField(
        choices=TONE_CHOICES,
        error_messages={"invalid_choice": f'Unknown tone "{{input}}"; allowed tones: {allowed}.'},
        **options,
    )


class ChannelChoiceField(serializers.ChoiceField):
    """A channel's name, documented as the named enum `component_name` (see ChannelChoiceFieldSchema)."""

    def __init__(self, *, component_name: str, **options):
        self.component_name = component_name
        super().__init__(**options)


class ChannelChoiceFieldSchema(OpenApiSerializerFieldExtension):
    """Each set of channel names is one named component (`ChannelName`: every channel,
    `AssetSetChannelName`: those with asset sets) that every operation refers to. Inline enums of one
    field name with different choices would collide in drf-spectacular's enum naming."""

    target_class = "inference.serializers.ChannelChoiceField"

    def get_name(self) -> str:
        return self.target.component_name

    def map_serializer_field(self, auto_schema, direction):
        return {"type": "string", "enum": list(self.target.choices)}


def channel_field(**options) -> ChannelChoiceField:
    allowed = ", ".join(CHANNELS)
    return ChannelChoiceField(
        component_name="ChannelName",
        choices=list(CHANNELS),
        error_messages={"invalid_choice": f'Unknown channel "{{input}}"; allowed channels: {allowed}.'},
        **options,
    )


def asset_set_channel_field(**options) -> ChannelChoiceField:
    return ChannelChoiceField(
        component_name="AssetSetChannelName",
        choices=list(ASSET_SET_CHANNELS),
        error_messages={"invalid_choice": unknown_asset_set_channel("{input}")},
        **options,
    )


class StrictSerializer(serializers.Serializer):
    """Refuses keys it does not know: a typo such as "tones" must not silently fall back to a default."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                allowed = ", ".join(self.fields)
                raise serializers.ValidationError(
                    {name: [f"Unknown field; allowed fields: {allowed}."] for name in unknown}
                )
        return super().to_internal_value(data)


def _sku_fields(*, required: bool) -> dict:
    return {
        "sku": StrictCharField(
            required=required, max_length=SKU_MAX, help_text="SKU of a stored product, instead of its text."
        )
    }


def _text_fields(*, required: bool) -> dict:
    limits = generation_limits()
    return {
        "title": StrictCharField(required=required, max_length=limits.max_title_chars),
        "description": StrictCharField(required=required, max_length=limits.max_description_chars),
        "category": StrictCharField(required=False, allow_blank=True, max_length=CATEGORY_MAX),
        "brand": StrictCharField(required=False, allow_blank=True, max_length=BRAND_MAX),
        "price": StrictFloatField(required=False, allow_null=True, min_value=0, max_value=PRICE_MAX),
    }


def _tone_fields() -> dict:
    return {"tone": tone_field(required=False, help_text=f"One of {', '.join(TONE_CHOICES)}.")}


class PredictItemSerializer(StrictSerializer):
    """One product: its text (title and description, the rest optional) or the sku of a stored product.

    Validation accepts both shapes and says which rule a request broke; the schema documents the two
    shapes as `oneOf` (ProductText, StoredProduct).
    """

    def get_fields(self):
        return {**_sku_fields(required=False), **_text_fields(required=False), **_tone_fields()}

    def validate(self, attrs):
        if "sku" in attrs:
            given = [name for name in PRODUCT_FIELDS if name in attrs]
            if given:
                message = f"Give either sku or the product's fields, not both (also got {', '.join(given)})."
                raise serializers.ValidationError({"sku": [message]})
            return attrs
        missing = {
            name: [f"This field is required (or give the sku of a stored product instead of {name})."]
            for name in ("title", "description")
            if name not in attrs
        }
        if missing:
            raise serializers.ValidationError(missing)
        return attrs


class GenerationOptionsMixin(serializers.Serializer):
    def get_fields(self):
        limits = generation_limits()
        fields = super().get_fields()
        fields["num_variants"] = StrictIntegerField(
            required=False, default=1, min_value=1, max_value=limits.max_variants
        )
        fields["max_new_tokens"] = StrictIntegerField(
            required=False,
            default=limits.default_new_tokens,
            min_value=limits.min_new_tokens,
            max_value=limits.max_new_tokens,
            help_text="Upper bound on the generated tokens per creative.",
        )
        fields["channel"] = channel_field(
            required=False,
            default=DEFAULT_CHANNEL,
            help_text=(
                f"The channel the creatives are written for, one of {', '.join(CHANNELS)} (their limits: "
                "GET /api/v1/channels). Every output keeps the channel's limits, and each creative's `ad` "
                "gives it as the channel's fields. Only `generic` creatives of a stored product are "
                "stored for the marketers."
            ),
        )
        return fields


class PredictInputSerializer(GenerationOptionsMixin, PredictItemSerializer):
    pass


# --- documentation of the two item shapes (the serializers above validate) -------------------


@extend_schema_serializer(component_name="ProductText")
class ProductTextSerializer(StrictSerializer):
    """A product described by its text; the creatives are not stored."""

    def get_fields(self):
        return {**_text_fields(required=True), **_tone_fields()}


@extend_schema_serializer(component_name="StoredProduct")
class StoredProductSerializer(StrictSerializer):
    """A stored product named by its sku; its creatives are stored for the marketers."""

    def get_fields(self):
        return {**_sku_fields(required=True), **_tone_fields()}


@extend_schema_serializer(component_name="PredictProductText")
class PredictProductTextSerializer(GenerationOptionsMixin, ProductTextSerializer):
    pass


@extend_schema_serializer(component_name="PredictStoredProduct")
class PredictStoredProductSerializer(GenerationOptionsMixin, StoredProductSerializer):
    pass


PREDICT_REQUEST_SCHEMA = PolymorphicProxySerializer(
    component_name="Predict",
    serializers=[PredictProductTextSerializer, PredictStoredProductSerializer],
    resource_type_field_name=None,
)


@extend_schema_field(
    PolymorphicProxySerializer(
        component_name="BatchItem",
        serializers=[ProductTextSerializer, StoredProductSerializer],
        resource_type_field_name=None,
        many=True,
    )
)
class BatchItemsField(serializers.ListField):
    """The items as raw JSON: each one is validated on its own (by PredictItemSerializer, as a single
    predict is) so that one bad item fails alone, with the same message that predict gives."""


class RawJSONField(serializers.Field):
    """Any JSON value, passed through as parsed (the parser already bounded its depth)."""

    def to_internal_value(self, data):
        return data

    def to_representation(self, value):
        return value


class StrictSerializerSchema(OpenApiSerializerExtension):
    """Strict serializers refuse unknown keys, so their schemas say `additionalProperties: false`."""

    target_class = "inference.serializers.StrictSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        return {**schema, "additionalProperties": False}


@extend_schema_serializer(component_name="BatchPredict")
class BatchPredictInputSerializer(GenerationOptionsMixin, StrictSerializer):
    """Up to PREDICT_MAX_BATCH items generated together; options apply to every item."""

    def get_fields(self):
        limits = generation_limits()
        return {
            "items": BatchItemsField(
                child=RawJSONField(), min_length=1, max_length=limits.max_batch, allow_empty=False
            ),
            "tone": tone_field(
                required=False,
                default=DEFAULT_TONE,
                help_text="Tone of every item that does not name its own.",
            ),
            **super().get_fields(),
        }

    def validate(self, attrs):
        """Bound the work of one request, before any of it runs: rows × variants × tokens."""
        limit = generation_limits().max_batch_tokens
        items, variants, tokens = len(attrs["items"]), attrs["num_variants"], attrs["max_new_tokens"]
        if items * variants * tokens > limit:
            raise serializers.ValidationError(
                {
                    "items": [
                        f"items × num_variants × max_new_tokens = {items} × {variants} × {tokens} = "
                        f"{items * variants * tokens:,} tokens; the limit per request is {limit:,} "
                        "(PREDICT_MAX_BATCH_TOKENS): send fewer items, variants or tokens."
                    ]
                }
            )
        return attrs


@extend_schema_serializer(component_name="GeneratedCreative")
class CreativeSerializer(serializers.Serializer):
    tone = serializers.ChoiceField(choices=TONE_CHOICES)
    headline = serializers.CharField()
    body = serializers.CharField()
    cta = serializers.CharField()
    ad = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text=(
            "The creative as the request's channel's fields, each a list of values: generic "
            "{headline, body, cta}; google_search {headline: [headline, call to action as a second "
            "headline], description, path: [2 display paths from the category and the product]}; "
            "meta_feed {headline, primary_text, link_description, cta: [a button of Meta's list]}. "
            "A field the model left empty is left out."
        ),
    )


@extend_schema_serializer(component_name="InputNovelty")
class NoveltySerializer(serializers.Serializer):
    """Whether the item is unlike the serving model's training data (see inference.services.novelty)."""

    unlike_training_data = serializers.BooleanField(
        help_text="True when any signal in `unseen` fired: treat the creatives with extra care."
    )
    unseen = serializers.ListField(
        child=serializers.ChoiceField(choices=NOVELTY_SIGNALS),
        help_text=(
            "Which signals fired: `category` / `brand` not in the training data (case-insensitive), "
            "`vocabulary` when more than NOVELTY_MAX_UNSEEN_WORD_SHARE of the distinct words of the "
            "title and description never occur in it."
        ),
    )
    unseen_word_share = serializers.FloatField(
        allow_null=True, help_text="Share of the item's distinct words the training data never held (0–1)."
    )
    not_checked = serializers.ListField(
        child=serializers.ChoiceField(choices=NOVELTY_SIGNALS),
        help_text=(
            "Signals that could not be measured: the item gave no category or brand, or the model's "
            "dataset version predates the brand and vocabulary statistics."
        ),
    )


class ItemErrorSerializer(serializers.Serializer):
    message = serializers.CharField()
    field = serializers.CharField(allow_null=True)


@extend_schema_serializer(component_name="PredictResponse")
class PredictOutputSerializer(serializers.Serializer):
    model_name = serializers.CharField()
    model_version = serializers.IntegerField()
    channel = channel_field(help_text="The channel written for.")
    creatives = CreativeSerializer(many=True)
    novelty = NoveltySerializer()
    latency_ms = serializers.FloatField()


class BatchResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the item in the request.")
    creatives = CreativeSerializer(many=True, required=False, help_text="Present when the item was valid.")
    novelty = NoveltySerializer(required=False, help_text="Present when the item was valid.")
    error = ItemErrorSerializer(required=False, help_text="Present when the item was refused.")


@extend_schema_serializer(component_name="BatchPredictResponse")
class BatchPredictOutputSerializer(serializers.Serializer):
    model_name = serializers.CharField()
    model_version = serializers.IntegerField()
    channel = channel_field(help_text="The channel written for.")
    results = BatchResultSerializer(many=True)
    latency_ms = serializers.FloatField(
        help_text="Time on the model for the whole batch (0 when no item was valid)."
    )


class ErrorBodySerializer(serializers.Serializer):
    message = serializers.CharField(
        help_text="What is wrong, naming the field and the limit where one applies."
    )
    field = serializers.CharField(required=False)
    details = serializers.JSONField(required=False, help_text="Per-field messages of a validation error.")
    wait = serializers.FloatField(required=False, help_text="Seconds until the rate limit allows a request.")
    limit = serializers.IntegerField(required=False, help_text="The limit that was exceeded.")


@extend_schema_serializer(component_name="InferenceError")
class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()


# --- the channel registry (training.ml.channels), as GET /api/v1/channels shows it -------------


@extend_schema_serializer(component_name="ChannelField")
class ChannelFieldSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The field's key (`headline`, `description`, `cta`, …).")
    label = serializers.CharField()
    max_width = serializers.IntegerField(
        allow_null=True,
        help_text=(
            "Most characters one value may have, counted as the channel counts them (see "
            "`wide_characters_count_double`); null: no limit."
        ),
    )
    min_count = serializers.IntegerField(help_text="Fewest values of this field one ad takes.")
    max_count = serializers.IntegerField(help_text="Most values of this field one ad takes.")
    choices = serializers.ListField(
        child=serializers.CharField(),
        help_text="The only values the platform accepts (Meta's call-to-action buttons); empty: free text.",
    )


@extend_schema_serializer(component_name="Channel")
class ChannelSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="What to send as `channel`.")
    label = serializers.CharField()
    wide_characters_count_double = serializers.BooleanField(
        help_text=(
            "True where the platform counts a double-width character (Chinese, Japanese, Korean, "
            "full-width forms) as two."
        )
    )
    fields = ChannelFieldSerializer(many=True)


@extend_schema_serializer(component_name="Channels")
class ChannelListOutputSerializer(serializers.Serializer):
    default = serializers.CharField(help_text="The channel of a request that names none.")
    channels = ChannelSerializer(many=True)


# --- asset sets (POST /api/v1/asset_sets) ------------------------------------------------------


def _asset_set_channel_fields() -> dict:
    return {
        "channel": asset_set_channel_field(
            required=False,
            default=DEFAULT_ASSET_SET_CHANNEL,
            help_text=(
                f"The channel of the set, one of {', '.join(ASSET_SET_CHANNELS)} (generic creatives come "
                "one at a time from predict: they have no set)."
            ),
        )
    }


class AssetSetInputSerializer(PredictItemSerializer):
    """One product, as predict takes it (its text, or the sku of a stored product), and the channel."""

    def get_fields(self):
        return {**_sku_fields(required=False), **_text_fields(required=False), **_asset_set_channel_fields()}


@extend_schema_serializer(component_name="AssetSetProductText")
class AssetSetProductTextSerializer(StrictSerializer):
    """A product described by its text; the set is not stored."""

    def get_fields(self):
        return {**_text_fields(required=True), **_asset_set_channel_fields()}


@extend_schema_serializer(component_name="AssetSetStoredProduct")
class AssetSetStoredProductSerializer(StrictSerializer):
    """A stored product named by its sku; the set is stored with the model version that wrote it."""

    def get_fields(self):
        return {**_sku_fields(required=True), **_asset_set_channel_fields()}


ASSET_SET_REQUEST_SCHEMA = PolymorphicProxySerializer(
    component_name="AssetSetRequest",
    serializers=[AssetSetProductTextSerializer, AssetSetStoredProductSerializer],
    resource_type_field_name=None,
)


@extend_schema_serializer(component_name="AssetFinding")
class AssetFindingSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text=(
            "The rule: over_limit or not_a_choice (the channel's own rules), superlative, all_caps, "
            "repeated_punctuation, click_here or foreign_number (the ad-policy lint)."
        )
    )
    field = serializers.CharField(help_text="The channel field of the asset (`headline`, `description`, …).")
    index = serializers.IntegerField(help_text="The asset's position in its field's list.")
    text = serializers.CharField(help_text="The words that broke the rule.")
    message = serializers.CharField(help_text="What is wrong and what to do, for a marketer.")


class AssetSetOutputSerializer(serializers.Serializer):
    model_name = serializers.CharField()
    model_version = serializers.IntegerField(help_text="The version that wrote the set (and stored it).")
    lint = AssetFindingSerializer(many=True, help_text="Findings on every asset; empty: nothing to fix.")
    problems = serializers.ListField(
        child=serializers.CharField(),
        help_text="Why the set is not complete, in words (too few distinct headlines, …); empty: complete.",
    )
    latency_ms = serializers.FloatField(
        help_text="Time on the model for the product's creatives in every tone."
    )


def _assets(field_name: str, channel: str, what: str) -> serializers.ListField:
    field = CHANNELS[channel].field(field_name)
    limit = f", each at most {field.max_width} characters" if field.max_width else ""
    return serializers.ListField(
        child=serializers.CharField(),
        help_text=f"{what}{limit} (a double-width character counts two); distinct after normalising case "
        "and punctuation.",
    )


@extend_schema_serializer(component_name="GoogleSearchAssetSet")
class GoogleSearchAssetSetSerializer(AssetSetOutputSerializer):
    """A responsive search ad's assets (Google Ads, Microsoft Advertising)."""

    channel = serializers.ChoiceField(choices=["google_search"])
    headlines = _assets(
        "headline", "google_search", "Up to 15 headlines (a complete set has 8 or more; an ad takes 3–15)"
    )
    descriptions = _assets(
        "description", "google_search", "Up to 4 descriptions (a complete set has 3 or more; an ad takes 2–4)"
    )
    paths = _assets("path", "google_search", "Up to 2 display paths: the category, then the product")


@extend_schema_serializer(component_name="MetaFeedAssetSet")
class MetaFeedAssetSetSerializer(AssetSetOutputSerializer):
    """A Meta (Facebook / Instagram) feed ad's assets, as its flexible format takes them."""

    channel = serializers.ChoiceField(choices=["meta_feed"])
    primary_texts = _assets("primary_text", "meta_feed", "Up to 5 primary texts")
    headlines = _assets("headline", "meta_feed", "Up to 5 headlines")
    link_descriptions = _assets("link_description", "meta_feed", "Up to 5 link descriptions")
    ctas = serializers.ListField(
        child=serializers.ChoiceField(choices=list(CHANNELS["meta_feed"].field("cta").choices)),
        help_text="The call-to-action button, one of Meta's list.",
    )


ASSET_SET_OUTPUT_SERIALIZERS = {
    "google_search": GoogleSearchAssetSetSerializer,
    "meta_feed": MetaFeedAssetSetSerializer,
}
ASSET_SET_RESPONSE_SCHEMA = PolymorphicProxySerializer(
    component_name="AssetSet",
    serializers=ASSET_SET_OUTPUT_SERIALIZERS,
    resource_type_field_name="channel",
)


def asset_set_body(*, channel: str, assets: dict[str, list[str]]) -> dict[str, list[str]]:
    """A set's assets under the answer's keys: each channel field's name in the plural."""
    return {f"{field.name}s": list(assets.get(field.name, [])) for field in CHANNELS[channel].fields}
