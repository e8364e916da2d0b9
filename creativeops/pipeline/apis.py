from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from creativeops.core.api import error_response
from creativeops.pipeline.models import PipelineRun
from creativeops.pipeline.selectors import pipeline_run_progress
from creativeops.pipeline.services import DEFAULT_OPTIONS, pipeline_start
from training.ml import PRESETS


class CanStartPipeline(BasePermission):
    message = "Starting the pipeline needs the operator permission pipeline.start_pipelinerun."

    def has_permission(self, request, view):
        return request.user.has_perm("pipeline.start_pipelinerun")


class CanViewPipeline(BasePermission):
    message = "Reading pipeline runs needs the permission pipeline.view_pipelinerun."

    def has_permission(self, request, view):
        return request.user.has_perm("pipeline.view_pipelinerun")


class PipelineRunOutputSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField()
    # None until the run has reached that step (and for ever when it failed or was skipped before).
    dataset_version = serializers.IntegerField(source="dataset_version.number", default=None, allow_null=True)
    model_version = serializers.IntegerField(source="model_version.version", default=None, allow_null=True)

    class Meta:
        model = PipelineRun
        fields = [
            "id", "model_name", "status", "trigger", "options", "steps", "current_step", "progress",
            "dataset_version", "training_run", "model_version", "gate_decision", "gate_reason",
            "skipped_because_of", "error", "created_at", "started_at", "finished_at",
        ]  # fmt: skip

    def get_progress(self, run) -> dict:
        return pipeline_run_progress(run)


def _run_data(run_id: int) -> dict:
    run = PipelineRun.objects.select_related("dataset_version", "model_version", "training_run").get(
        pk=run_id
    )
    return PipelineRunOutputSerializer(run).data


class PipelineRunStartApi(APIView):
    permission_classes = [CanStartPipeline]
    throttle_scope = "operator"

    class InputSerializer(serializers.Serializer):
        preset = serializers.ChoiceField(
            choices=list(PRESETS),
            default=DEFAULT_OPTIONS["preset"],
            error_messages={
                "invalid_choice": f"Unknown preset {{input!r}}; choose one of: {', '.join(PRESETS)}."
            },
        )
        new_products = serializers.IntegerField(min_value=0, default=0)
        seed = serializers.IntegerField(min_value=0, required=False, allow_null=True, default=None)
        hyperparameters = serializers.DictField(required=False, default=dict)

    @extend_schema(
        request=InputSerializer,
        responses={
            202: PipelineRunOutputSerializer,
            400: OpenApiResponse(description="An option is invalid; `error.field` names it."),
            403: OpenApiResponse(description="The caller lacks pipeline.start_pipelinerun."),
            409: OpenApiResponse(
                description="Another run of the model is active; this start was recorded as skipped."
            ),
        },
        examples=[OpenApiExample("nightly-like run", value={"preset": "small", "new_products": 500})],
        summary="Start the pipeline (operators). A start while one runs is recorded as skipped (409).",
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run = pipeline_start(
            trigger=PipelineRun.Trigger.API,
            actor=request.user,
            options=serializer.validated_data,
            background=True,
        )
        if run.status == PipelineRun.Status.SKIPPED:
            return error_response(
                run.error,
                status_code=status.HTTP_409_CONFLICT,
                run=run.pk,
                skipped_because_of=run.skipped_because_of_id,
            )
        return Response(_run_data(run.pk), status=status.HTTP_202_ACCEPTED)


class PipelineRunDetailApi(APIView):
    permission_classes = [CanViewPipeline]

    @extend_schema(
        responses={
            200: PipelineRunOutputSerializer,
            403: OpenApiResponse(description="The caller lacks pipeline.view_pipelinerun."),
            404: OpenApiResponse(description="No pipeline run has this id."),
        },
        summary="One pipeline run with its progress.",
    )
    def get(self, request, run_id: int):
        get_object_or_404(PipelineRun, pk=run_id)
        return Response(_run_data(run_id))
