"""The inference API, mounted under /api/v1/ by the project urls."""

from django.urls import path

from inference import apis

app_name = "inference"
urlpatterns = [
    path("predict", apis.PredictApi.as_view(), name="predict"),
    path("batch_predict", apis.BatchPredictApi.as_view(), name="batch_predict"),
    path("info", apis.ModelInfoApi.as_view(), name="info"),
    path("channels", apis.ChannelListApi.as_view(), name="channels"),
]
