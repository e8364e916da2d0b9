"""The marketers' pages, mounted at /creatives/ by the project urls."""

from django.urls import path

from inference.pages import views

app_name = "creatives"
urlpatterns = [
    path("", views.creative_list, name="list"),
    path("export.csv", views.creative_export_csv, name="export"),
    # The asset sets of the listed products as a Google Ads Editor or Meta bulk-import CSV.
    path("ad-export.csv", views.creative_ad_export, name="ad_export"),
    # <sku:…> (creativeops/core/converters.py): any stored sku, `/` and all, is one path segment.
    path("product/<sku:sku>/", views.product_detail, name="product"),
    path("product/<sku:sku>/regenerate/", views.product_regenerate, name="regenerate"),
]
