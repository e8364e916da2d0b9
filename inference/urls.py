"""The inference API, mounted under /api/v1/ by the project urls."""

from django.urls import path

from inference import apis, apis_experiments, apis_exports

app_name = "inference"
urlpatterns = [
    path("predict", apis.PredictApi.as_view(), name="predict"),
    path("batch_predict", apis.BatchPredictApi.as_view(), name="batch_predict"),
    path("asset_sets", apis.AssetSetApi.as_view(), name="asset_sets"),
    path("info", apis.ModelInfoApi.as_view(), name="info"),
    path("channels", apis.ChannelListApi.as_view(), name="channels"),
    path("exports/google_ads", apis_exports.GoogleAdsExportApi.as_view(), name="export_google_ads"),
    path("exports/meta", apis_exports.MetaExportApi.as_view(), name="export_meta"),
    path(
        "models/<str:name>/experiments/<int:experiment_id>/comparison",
        apis_experiments.ExperimentComparisonApi.as_view(),
        name="experiment_comparison",
    ),
]
