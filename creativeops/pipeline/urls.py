from django.urls import path

from creativeops.pipeline import apis

app_name = "pipeline"
urlpatterns = [
    path("pipeline/runs", apis.PipelineRunStartApi.as_view(), name="run-start"),
    path("pipeline/runs/<int:run_id>", apis.PipelineRunDetailApi.as_view(), name="run-detail"),
]
