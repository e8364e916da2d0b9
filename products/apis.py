"""The catalog over REST: generate a synthetic catalog, list and read products. Thin views."""

from __future__ import annotations

import secrets
from collections import Counter

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from products import selectors
from products.generator import SEED_LIMIT, generate_catalog
from products.models import Product
from products.services.catalog import products_store_generated

DEFAULT_GENERATE_COUNT = 50
RANDOM_SEED_LIMIT = 2**32
SEED_MAX = SEED_LIMIT - 1


class ErrorSerializer(serializers.Serializer):
    """The error shape of every API answer (creativeops.core.api.exception_handler)."""

    error = serializers.DictField(help_text='{"message": str, "field": str?, "details": {...}?}')


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


def _product_url_field() -> serializers.CharField:
    """`url` as every product answer has it: a string, since "" (no known page) is not a URI."""
    return serializers.CharField(
        allow_blank=True,
        help_text="The product's page on the shop (http or https, at most 500 characters); "
        '"" when unknown. Generated products: https://shop.example.com/p/<sku in lower case>.',
    )


def _whole_number_field(*, low: int, high: int, **kwargs) -> serializers.IntegerField:
    """An integer field whose every error names the allowed range: "Must be a whole number from 1 to 10000."
    (DRF's own messages for "abc", 1.5 or true name no range.)"""
    message = f"Must be a whole number from {low} to {high}."
    return serializers.IntegerField(
        min_value=low,
        max_value=high,
        error_messages={key: message for key in ("invalid", "max_string_length", "min_value", "max_value")},
        **kwargs,
    )


RECORD_EXAMPLE = {
    "sku": "OUTD-7-000001",
    "title": "Northwind Trail 2-Person Tent, Ripstop Nylon",
    "category": "Outdoor",
    "brand": "Northwind Trail",
    "description": (
        "Northwind Trail builds this tent from ripstop nylon with room for 2 people. Ideal for car camping."
    ),
    "price": "249.99",
    "rating": 4.6,
    "url": "https://shop.example.com/p/outd-7-000001",
    "timestamp": "2026-11-26T12:00:00Z",
}


class GeneratedRecordSerializer(serializers.Serializer):
    """One generated product as the generate API answers it (the catalog fields and a timestamp)."""

    sku = serializers.CharField()
    title = serializers.CharField()
    category = serializers.CharField()
    brand = serializers.CharField()
    description = serializers.CharField()
    price = serializers.CharField(help_text='Decimal as a string, e.g. "19.99".')
    rating = serializers.FloatField()
    url = _product_url_field()
    timestamp = serializers.DateTimeField(help_text="When the answer was generated (metadata.generated_at).")


class ProductGenerateApi(APIView):
    """Generate a synthetic catalog (deterministic for a seed), optionally storing it."""

    throttle_scope = "catalog"

    class InputSerializer(serializers.Serializer):
        count = serializers.IntegerField()  # replaced in __init__: its limit is a setting
        seed = _whole_number_field(
            low=0, high=SEED_MAX, required=False, allow_null=True,
            help_text="Same seed, same catalog. Absent or null: a random seed, echoed in the metadata.",
        )  # fmt: skip
        persist = serializers.BooleanField(
            required=False, default=False, help_text="Store the products (needs products.add_product)."
        )

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            limit = settings.CREATIVEOPS["GENERATE_MAX_COUNT"]
            self.fields["count"] = _whole_number_field(
                low=1, high=limit, required=False, default=DEFAULT_GENERATE_COUNT,
                help_text=f"Products to generate, 1 to {limit} (GENERATE_MAX_COUNT).",
            )  # fmt: skip

    class OutputSerializer(serializers.Serializer):
        class MetadataSerializer(serializers.Serializer):
            count = serializers.IntegerField()
            seed = serializers.IntegerField()
            persisted = serializers.BooleanField()
            generated_at = serializers.DateTimeField()
            categories = serializers.DictField(
                child=serializers.IntegerField(), help_text="Products per category in this answer."
            )
            stored = serializers.DictField(
                child=serializers.IntegerField(),
                allow_null=True,
                help_text="When persisted: products created, updated and unchanged.",
            )

        metadata = MetadataSerializer()
        records = GeneratedRecordSerializer(many=True)

    @extend_schema(
        operation_id="products_generate",
        summary="Generate a synthetic catalog",
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            201: OpenApiResponse(OutputSerializer, description="Generated and stored (persist: true)."),
            400: _error("Invalid input: the message names the field and the limit."),
            401: _error("Not authenticated."),
            403: _error("persist: true without the products.add_product permission."),
            413: _error("Request body larger than API_MAX_BODY_BYTES."),
            429: _error("Rate limit (scope 'catalog') reached."),
        },
        examples=[
            OpenApiExample("Preview 3 products", value={"count": 3, "seed": 7}, request_only=True),
            OpenApiExample(
                "Store 1,000 products", value={"count": 1000, "seed": 42, "persist": True}, request_only=True
            ),
            OpenApiExample(
                "Answer",
                value={
                    "metadata": {
                        "count": 1,
                        "seed": 7,
                        "persisted": False,
                        "generated_at": "2026-11-26T12:00:00Z",
                        "categories": {"Outdoor": 1},
                        "stored": None,
                    },
                    "records": [RECORD_EXAMPLE],
                },
                response_only=True,
            ),  # fmt: skip
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        count, persist = serializer.validated_data["count"], serializer.validated_data["persist"]
        seed = serializer.validated_data.get("seed")
        if seed is None:
            seed = secrets.randbelow(RANDOM_SEED_LIMIT)
        if persist and not request.user.has_perm("products.add_product"):
            raise PermissionDenied(
                "Storing generated products (persist: true) needs the products.add_product permission."
            )
        generated_at = timezone.now()
        products = generate_catalog(count, seed)
        stored = products_store_generated(products=products, seed=seed) if persist else None
        timestamp = serializers.DateTimeField().to_representation(generated_at)
        metadata = {
            "count": len(products),
            "seed": seed,
            "persisted": persist,
            "generated_at": generated_at,
            "categories": dict(sorted(Counter(product.category for product in products).items())),
            "stored": None
            if stored is None
            else {
                "created": stored.created,
                "updated": stored.updated,
                "unchanged": stored.unchanged,
            },
        }
        # Records are plain dicts already in their JSON form: 10,000 of them through a field-by-field
        # serializer would cost more than generating them.
        records = [{**product.as_record(), "timestamp": timestamp} for product in products]
        data = {"metadata": self.OutputSerializer.MetadataSerializer(metadata).data, "records": records}
        return Response(data, status=status.HTTP_201_CREATED if persist else status.HTTP_200_OK)

    @extend_schema(exclude=True)
    def get(self, request: Request) -> Response:
        """The path is shared with the product whose sku is "generate" (any text is a valid sku):
        a GET here reads that product, as it would at any other /products/<sku>."""
        return ProductDetailApi().get(request, sku="generate")


class ProductPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class CreativeSerializer(serializers.Serializer):
    tone = serializers.CharField()
    channel = serializers.CharField(
        help_text="The ad channel whose limits the copy keeps: generic, google_search or meta_feed."
    )
    headline = serializers.CharField()
    body = serializers.CharField()
    cta = serializers.CharField()


class ProductListApi(APIView):
    """Stored products, filtered and paginated."""

    class FilterSerializer(serializers.Serializer):
        category = serializers.CharField(required=False, default="", max_length=64)
        brand = serializers.CharField(required=False, default="", max_length=100)
        source = serializers.ChoiceField(choices=Product.Source.choices, required=False, default="")
        search = serializers.CharField(required=False, default="", max_length=200)

    class OutputSerializer(serializers.Serializer):
        sku = serializers.CharField()
        title = serializers.CharField()
        category = serializers.CharField()
        brand = serializers.CharField()
        description = serializers.CharField()
        price = serializers.DecimalField(max_digits=10, decimal_places=2)
        rating = serializers.FloatField()
        url = _product_url_field()
        source = serializers.CharField()
        created_at = serializers.DateTimeField()
        updated_at = serializers.DateTimeField()

    # What ProductPagination answers: one page of products and the links to its neighbours.
    page_schema = inline_serializer(
        name="ProductPage",
        fields={
            "count": serializers.IntegerField(help_text="Products matching the filters, on every page."),
            "next": serializers.URLField(allow_null=True, help_text="The next page; null on the last."),
            "previous": serializers.URLField(
                allow_null=True, help_text="The previous page; null on the first."
            ),
            "results": OutputSerializer(many=True),
        },
    )

    @extend_schema(
        operation_id="products_list",
        summary="List stored products",
        parameters=[
            FilterSerializer,
            OpenApiParameter("page", int, description="Page number, from 1."),
            OpenApiParameter("page_size", int, description="Products per page (default 50, at most 500)."),
        ],
        responses={
            200: page_schema,
            400: _error("Invalid filter."),
            401: _error("Not authenticated."),
            404: _error("The page is past the last page."),
        },
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        products = selectors.product_list(**filters.validated_data)
        paginator = ProductPagination()
        page = paginator.paginate_queryset(products, request, view=self)
        return paginator.get_paginated_response(self.OutputSerializer(page, many=True).data)


class ProductDetailApi(APIView):
    """One stored product with its reference creatives."""

    class OutputSerializer(ProductListApi.OutputSerializer):
        creatives = CreativeSerializer(many=True, source="reference_creatives.all")

    @extend_schema(
        operation_id="products_retrieve",
        summary="One stored product",
        responses={
            200: OutputSerializer,
            401: _error("Not authenticated."),
            404: _error("No product with this sku."),
        },
    )
    def get(self, request: Request, sku: str) -> Response:
        product = selectors.product_get(sku=sku)
        return Response(self.OutputSerializer(product).data)
