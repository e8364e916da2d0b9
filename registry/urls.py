"""The operator API of the registry, mounted under /api/v1/ by the project urls."""

from django.urls import path

from registry import apis

app_name = "registry"
urlpatterns = [
    path("models/<str:name>/versions", apis.ModelVersionListApi.as_view(), name="versions"),
    path(
        "models/<str:name>/versions/<int:version>/promote",
        apis.ModelVersionPromoteApi.as_view(),
        name="promote",
    ),
    path("models/<str:name>/rollback", apis.ModelRollbackApi.as_view(), name="rollback"),
    path("models/<str:name>/experiments", apis.ExperimentListApi.as_view(), name="experiments"),
    path("models/<str:name>/experiments/stop", apis.ExperimentStopApi.as_view(), name="experiment_stop"),
]
