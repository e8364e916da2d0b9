from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from creativeops.pipeline.models import PipelineRun
from creativeops.pipeline.services import pipeline_run_progress, pipeline_start


class CanStartPipeline(BasePermission):
    message = "Starting the pipeline needs the operator permission pipeline.start_pipelinerun."

    def has_permission(self, request, view):
        return request.user.has_perm("pipeline.start_pipelinerun")


class PipelineRunOutputSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField()
    dataset_version = serializers.IntegerField(source="dataset_version.number", default=None)
    model_version = serializers.IntegerField(source="model_version.version", default=None)

    class Meta:
        model = PipelineRun
        fields = [
            "id", "model_name", "status", "trigger", "options", "steps", "current_step", "progress",
            "dataset_version", "training_run", "model_version", "gate_decision", "gate_reason",
            "skipped_because_of", "error", "created_at", "started_at", "finished_at",
        ]  # fmt: skip

    def get_progress(self, run) -> dict:
        return pipeline_run_progress(run)


class PipelineRunStartApi(APIView):
    permission_classes = [CanStartPipeline]
    throttle_scope = "operator"

    class InputSerializer(serializers.Serializer):
        preset = serializers.ChoiceField(choices=["tiny", "small", "base"], default="small")
        new_products = serializers.IntegerField(min_value=0, max_value=100_000, default=0)
        seed = serializers.IntegerField(min_value=0, required=False, allow_null=True, default=None)

    @extend_schema(
        request=InputSerializer,
        responses={202: PipelineRunOutputSerializer},
        examples=[OpenApiExample("nightly-like run", value={"preset": "small", "new_products": 500})],
        summary="Start the pipeline (operators). A start while one runs is recorded as skipped.",
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run = pipeline_start(
            trigger=PipelineRun.Trigger.API, actor=request.user, options=serializer.validated_data
        )
        run.refresh_from_db()
        return Response(PipelineRunOutputSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class PipelineRunDetailApi(APIView):
    @extend_schema(
        responses={200: PipelineRunOutputSerializer}, summary="One pipeline run with its progress."
    )
    def get(self, request, run_id: int):
        from django.shortcuts import get_object_or_404

        run = get_object_or_404(
            PipelineRun.objects.select_related("dataset_version", "model_version"), pk=run_id
        )
        return Response(PipelineRunOutputSerializer(run).data)
