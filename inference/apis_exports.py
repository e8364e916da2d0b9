"""Ad-platform exports over REST: the production model's asset sets as a Google Ads Editor CSV or a
Meta bulk-import CSV, the files `/creatives/` exports (one service, `ad_export_build`)."""

from __future__ import annotations

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.views import APIView

from creativeops.core.api import PlainTextField
from creativeops.core.errors import ApplicationError
from inference.apis import COMMON_ERRORS, TokenScopedRateThrottle
from inference.selectors_pages import CreativeFilters
from inference.serializers import ErrorSerializer
from inference.services.ad_exports import (
    DEFAULT_AD_GROUP,
    DEFAULT_CAMPAIGN,
    GOOGLE_ADS,
    GOOGLE_ADS_COLUMNS,
    META,
    META_COLUMNS,
    NAME_MAX_LENGTH,
    NAME_PLACEHOLDERS,
    ad_export_build,
    csv_lines,
    name_template_parse,
)
from registry.selectors import production_version

NO_PRODUCTION = "No model is in production yet, so there are no ad assets to export."
_PLACEHOLDERS = ", ".join(f"{{{name}}}" for name in NAME_PLACEHOLDERS)


class AdExportFilterSerializer(serializers.Serializer):
    """Which products: the filters of the catalog listing (`GET /api/v1/products`)."""

    category = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=64, help_text="Exact category."
    )
    brand = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=100, help_text="Brand, whatever the case."
    )


GOOGLE_ADS_EXAMPLE = [
    "Kitchen",
    "Hearthly",
    "Hearthly Copper Kettle",
    "Boils in Three Minutes",
    "Order the Kettle Today",
    *[""] * 12,
    "A copper kettle that boils 1.7 L in three minutes.",
    "Even heat on gas, electric and induction hobs.",
    "",
    "",
    "Kitchen",
    "Copper-Kettle",
    "https://shop.example.com/copper-kettle",
]
META_EXAMPLE = [
    "Meet the Copper Kettle",
    "Hearthly's copper kettle boils 1.7 L in three minutes.",
    "Even heat, every hob",
    "SHOP_NOW",
    "https://shop.example.com/copper-kettle",
]


def _csv_response(description: str, columns: tuple[str, ...], example: list[str]) -> dict:
    return {
        (200, "text/csv"): OpenApiResponse(
            OpenApiTypes.STR,
            description=f"{description} Columns: {', '.join(columns)}.",
            examples=[
                OpenApiExample("CSV", value="".join(csv_lines([columns, example])), media_type="text/csv")
            ],
        ),
        400: COMMON_ERRORS[400],
        401: COMMON_ERRORS[401],
        409: OpenApiResponse(ErrorSerializer, description=NO_PRODUCTION),
        429: COMMON_ERRORS[429],
    }


class _AdExportApi(APIView):
    """A streamed CSV download. The exports read the catalog and are counted with its endpoints
    (throttle scope `catalog`)."""

    platform = ""
    throttle_classes = [TokenScopedRateThrottle]
    throttle_scope = "catalog"
    FilterSerializer: type[serializers.Serializer] = AdExportFilterSerializer

    def perform_content_negotiation(self, request, force=False):
        """A client that asks for text/csv gets the file; errors are JSON whatever it asked for."""
        return super().perform_content_negotiation(request, force=True)

    def get(self, request: Request) -> StreamingHttpResponse:
        query = self.FilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        model_version = production_version()
        if model_version is None:
            raise ApplicationError(NO_PRODUCTION, status_code=409)
        export = ad_export_build(
            platform=self.platform,
            model_version=model_version,
            filters=CreativeFilters(category=data["category"], brand=data["brand"]),
            campaign=data.get("campaign", DEFAULT_CAMPAIGN),
            ad_group=data.get("ad_group", DEFAULT_AD_GROUP),
        )
        response = StreamingHttpResponse(export.csv_lines(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
        return response


def _name_field(default: str, label: str) -> PlainTextField:
    return PlainTextField(
        required=False,
        allow_blank=True,
        default=default,
        max_length=NAME_MAX_LENGTH,
        help_text=(
            f"{label} of every row: text with {_PLACEHOLDERS} filled in per product; at most "
            f"{NAME_MAX_LENGTH} characters once filled in. Empty or left out: {default}."
        ),
    )


class GoogleAdsExportApi(_AdExportApi):
    platform = GOOGLE_ADS

    class FilterSerializer(AdExportFilterSerializer):
        campaign = _name_field(DEFAULT_CAMPAIGN, "Campaign")
        ad_group = _name_field(DEFAULT_AD_GROUP, "Ad group")

        def validate_campaign(self, value: str) -> str:
            return _name_template(value or DEFAULT_CAMPAIGN, "Campaign")

        def validate_ad_group(self, value: str) -> str:
            return _name_template(value or DEFAULT_AD_GROUP, "Ad group")

    @extend_schema(
        operation_id="export_google_ads",
        summary="Google Ads Editor CSV of responsive search ads",
        description=(
            "One responsive search ad per product with a google_search asset set written by the "
            "production model (up to 15 headlines, 4 descriptions, 2 display paths, each within its "
            "limit), for Google Ads Editor's import. Headline and description columns a set has no "
            "value for are blank; Final URL is the product's `url`. A cell starting with = + - @ gets "
            "a leading apostrophe (spreadsheet formula protection); all other text is as written. "
            "Streamed; rate-limited with the catalog endpoints (scope `catalog`)."
        ),
        parameters=[FilterSerializer],
        responses=_csv_response(
            "The ads, header first.",
            GOOGLE_ADS_COLUMNS,
            GOOGLE_ADS_EXAMPLE,
        ),
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        return super().get(request)


class MetaExportApi(_AdExportApi):
    platform = META

    @extend_schema(
        operation_id="export_meta",
        summary="Meta Ads Manager bulk-import CSV of feed ads",
        description=(
            "One feed ad per primary text (or headline) of each product's meta_feed asset set written "
            "by the production model: the set's headlines, primary texts and link descriptions paired "
            "by their place in the set, the call to action as Meta's API value (SHOP_NOW, …) and the "
            "product's `url` as the ad's Link. Streamed; rate-limited with the catalog endpoints "
            "(scope `catalog`)."
        ),
        parameters=[AdExportFilterSerializer],
        responses=_csv_response(
            "The ads, header first.",
            META_COLUMNS,
            META_EXAMPLE,
        ),
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        return super().get(request)


def _name_template(value: str, label: str) -> str:
    try:
        name_template_parse(value, label=label)
    except ApplicationError as error:
        raise serializers.ValidationError(error.message) from None
    return value
