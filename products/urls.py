"""The catalog API, mounted under /api/v1/ by the project urls."""

from django.urls import path

from products import apis

app_name = "products"
urlpatterns = [
    path("products", apis.ProductListApi.as_view(), name="list"),
    path("products/generate", apis.ProductGenerateApi.as_view(), name="generate"),
    # <path:…>: a real catalog's sku may hold a slash.
    path("products/<path:sku>", apis.ProductDetailApi.as_view(), name="detail"),
]
