from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from creativeops.console import views as console_views

api_v1 = [
    path("", include("products.urls")),
    path("", include("registry.urls")),
    path("", include("inference.urls")),
    path("", include("creativeops.pipeline.urls")),
]

urlpatterns = [
    path("", RedirectView.as_view(url="/creatives/", permanent=False), name="home"),
    path("health", console_views.health, name="health"),
    path("ready", console_views.ready, name="ready"),
    path("metrics", console_views.metrics, name="prometheus-django-metrics"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script as a file, so the docs page needs no inline script (CSP).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("creatives/", include("inference.page_urls")),
]

# An unknown /api/ path answers 404 in the API's JSON error shape; other paths get the HTML page.
handler404 = "creativeops.core.api.not_found"
