"""The marketers' pages, mounted at /creatives/ by the project urls."""

from django.urls import path

from inference.pages import views

app_name = "creatives"
urlpatterns = [
    path("", views.creative_list, name="list"),
    path("export.csv", views.creative_export_csv, name="export"),
    path("product/<str:sku>/", views.product_detail, name="product"),
    path("product/<str:sku>/regenerate/", views.product_regenerate, name="regenerate"),
]
