"""The live comparison of an experiment over REST: the figures of its admin page, for scripts."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from creativeops.core.errors import ApplicationError
from inference.services.experiment_samples import experiment_comparison
from registry.apis import ERRORS
from registry.apis import permission as registry_permission
from registry.models import Experiment


class ExperimentComparisonApi(APIView):
    permission_classes = [registry_permission("view_experiment", "Reading an experiment")]
    throttle_scope = "operator"

    @extend_schema(
        operation_id="experiment_comparison",
        summary="Champion and challenger on live traffic: per-arm figures and side-by-side pairs",
        description=(
            "Per arm: requests and items answered (shadow: run), items scored, latency p50/p95 in ms, fact "
            "fidelity, limit compliance and policy-lint pass rate of its live outputs (the gate's checks), "
            "mean output length, and shadow requests dropped. `pairs`: a shadow's outputs of both arms for "
            "the same inputs, newest first, 50 a page, optionally of one `category` and `tone`."
        ),
        parameters=[
            OpenApiParameter("category", OpenApiTypes.STR, required=False),
            OpenApiParameter("tone", OpenApiTypes.STR, required=False),
            OpenApiParameter("page", OpenApiTypes.INT, required=False),
        ],
        responses={
            200: OpenApiTypes.OBJECT,
            400: ERRORS[400],
            401: OpenApiResponse(ERRORS[403].response, description="No or unknown API token."),
            403: ERRORS[403],
            404: ERRORS[404],
        },
    )
    def get(self, request: Request, name: str, experiment_id: int) -> Response:
        experiment = (
            Experiment.objects.select_related("challenger", "champion")
            .filter(model_name=name, pk=experiment_id)
            .first()
        )
        if experiment is None:
            raise ApplicationError(f"{name} has no experiment #{experiment_id}.", status_code=404)
        page = request.query_params.get("page", "1")
        if not page.isdigit() or not 1 <= int(page) <= 10_000:
            raise ApplicationError(
                f"page must be a whole number from 1 to 10000, got {page!r}.", field="page"
            )
        return Response(
            experiment_comparison(
                experiment=experiment,
                category=request.query_params.get("category") or None,
                tone=request.query_params.get("tone") or None,
                page=int(page),
            )
        )
