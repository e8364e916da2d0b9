"""The operator API: list versions, promote, roll back. Thin views over the registry services."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from creativeops.core.api import PlainTextField
from creativeops.core.errors import ApplicationError
from registry import selectors
from registry.models import Experiment, ModelVersion
from registry.services import experiment_start, experiment_stop, model_version_promote, model_version_rollback
from registry.services.experiments import DEFAULT_PERCENT, PERCENT_LIMITS
from registry.services.promotion import REASON_MAX_LENGTH

ERROR = inline_serializer(
    "RegistryError",
    {
        "error": inline_serializer(
            "RegistryErrorBody",
            {"message": serializers.CharField(), "field": serializers.CharField(required=False)},
        )
    },
)
ERRORS = {
    400: OpenApiResponse(ERROR, description="Invalid input, or a rule refused it: the message says which."),
    403: OpenApiResponse(ERROR, description="The user lacks the operator permission for this operation."),
    404: OpenApiResponse(ERROR, description="No such model or version."),
    409: OpenApiResponse(ERROR, description="Another promotion committed first; reload and try again."),
}


def permission(codename: str, doing: str) -> type[BasePermission]:
    class HasRegistryPermission(BasePermission):
        message = f"{doing} needs the operator permission registry.{codename}."

        def has_permission(self, request, view):
            return request.user.has_perm(f"registry.{codename}")

    return HasRegistryPermission


class ModelVersionOutputSerializer(serializers.ModelSerializer):
    dataset_version = serializers.IntegerField(source="training_run.dataset_version.number")
    primary_metric = serializers.SerializerMethodField()
    evaluation = serializers.SerializerMethodField()
    promoted_by = serializers.CharField(source="promoted_by.get_username", default=None)

    class Meta:
        model = ModelVersion
        fields = [
            "name", "version", "status", "gate_passed", "gate_reason", "primary_metric", "metrics",
            "evaluation", "dataset_version", "training_run", "artifact_uri", "artifact_sha256",
            "promoted_at", "promoted_by", "mlflow_version", "mlflow_synced", "created_at",
        ]  # fmt: skip

    def get_primary_metric(self, version) -> float | None:
        return selectors.gate_primary_metric(version, "test")

    def get_evaluation(self, version) -> dict:
        """Scores of both models on both sets and the rules; the sample outputs stay in the console."""
        evaluation = version.evaluation or {}
        return {key: value for key, value in evaluation.items() if key != "sample_outputs"}


def _version_or_404(name: str, number: int) -> ModelVersion:
    version = selectors.model_version_get(name=name, version=number)
    if version is None:
        raise ApplicationError(f"{name} has no version {number}.", status_code=404)
    return version


def _version_response(name: str, version: ModelVersion) -> Response:
    fresh = selectors.model_version_get(name=name, version=version.version)
    return Response(ModelVersionOutputSerializer(fresh).data)


class ModelVersionListApi(APIView):
    permission_classes = [permission("view_modelversion", "Listing model versions")]
    throttle_scope = "operator"

    @extend_schema(
        responses={200: ModelVersionOutputSerializer(many=True), 403: ERRORS[403], 404: ERRORS[404]},
        summary="Every version of a model, newest first, with its status and gate decision.",
    )
    def get(self, request, name: str):
        versions = selectors.model_versions(name).order_by("-version")
        if not versions.exists():
            raise ApplicationError(f"There is no model named {name}.", status_code=404)
        return Response(ModelVersionOutputSerializer(versions, many=True).data)


class ModelVersionPromoteApi(APIView):
    permission_classes = [permission("promote_modelversion", "Promoting a model version")]
    throttle_scope = "operator"

    class InputSerializer(serializers.Serializer):
        reason = PlainTextField(max_length=REASON_MAX_LENGTH, trim_whitespace=True)
        force = serializers.BooleanField(default=False, help_text="Override the gate for a rejected version.")

    @extend_schema(
        request=InputSerializer,
        responses={200: ModelVersionOutputSerializer, **ERRORS},
        examples=[OpenApiExample("approve", value={"reason": "Beats v3 on both sets; samples read well."})],
        summary="Approve and promote a version; the previous production is archived.",
    )
    def post(self, request, name: str, version: int):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        promoted = model_version_promote(
            version=_version_or_404(name, version),
            actor=request.user,
            reason=serializer.validated_data["reason"],
            force=serializer.validated_data["force"],
        )
        return _version_response(name, promoted)


class ModelRollbackApi(APIView):
    permission_classes = [permission("rollback_modelversion", "Rolling back")]
    throttle_scope = "operator"

    class InputSerializer(serializers.Serializer):
        reason = PlainTextField(max_length=REASON_MAX_LENGTH, trim_whitespace=True)
        to_version = serializers.IntegerField(
            min_value=1, required=False, allow_null=True, default=None,
            help_text="A version that was in production before; default: the previous production.",
        )  # fmt: skip

    @extend_schema(
        request=InputSerializer,
        responses={200: ModelVersionOutputSerializer, **ERRORS},
        examples=[OpenApiExample("back to the previous", value={"reason": "v5 writes wrong prices."})],
        summary="Make an earlier production version production again.",
    )
    def post(self, request, name: str):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        restored = model_version_rollback(
            name=name,
            actor=request.user,
            reason=serializer.validated_data["reason"],
            to_version=serializer.validated_data["to_version"],
        )
        return _version_response(name, restored)


class ExperimentOutputSerializer(serializers.ModelSerializer):
    challenger_version = serializers.IntegerField(source="challenger.version")
    champion_version = serializers.IntegerField(source="champion.version")

    class Meta:
        model = Experiment
        fields = [
            "id", "model_name", "challenger_version", "champion_version", "mode", "percent", "status",
            "reason", "started_by_label", "started_at", "stopped_by_label", "stopped_at", "stop_reason",
        ]  # fmt: skip


class ExperimentListApi(APIView):
    """GET: the model's experiments, newest first. POST: start one (a candidate against production)."""

    throttle_scope = "operator"

    def get_permissions(self):
        if self.request.method == "POST":
            return [permission("start_experiment", "Starting an experiment")()]
        return [permission("view_experiment", "Listing experiments")()]

    class InputSerializer(serializers.Serializer):
        version = serializers.IntegerField(
            min_value=1, help_text="The candidate version to challenge production."
        )
        mode = serializers.ChoiceField(choices=Experiment.Mode.choices)
        percent = serializers.IntegerField(
            required=False,
            default=DEFAULT_PERCENT,
            help_text=(
                f"shadow: share of requests also run on the challenger (1–{PERCENT_LIMITS['shadow']}); "
                f"canary: share of clients it answers (1–{PERCENT_LIMITS['canary']}). "
                f"Default {DEFAULT_PERCENT}."
            ),
        )
        reason = PlainTextField(max_length=REASON_MAX_LENGTH, trim_whitespace=True)

    @extend_schema(
        responses={200: ExperimentOutputSerializer(many=True), 403: ERRORS[403]},
        summary="The model's experiments (running and finished), newest first.",
    )
    def get(self, request, name: str):
        return Response(ExperimentOutputSerializer(selectors.experiments(name)[:100], many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={201: ExperimentOutputSerializer, **ERRORS},
        examples=[
            OpenApiExample(
                "shadow",
                value={"version": 7, "mode": "shadow", "percent": 10, "reason": "Compare v7 on live inputs."},
            )
        ],
        summary="Start an experiment: a candidate beside production in shadow or canary.",
        description=(
            "At most one experiment runs per model (409 names the running one). Every web process loads "
            "the challenger within MODEL_CHECK_INTERVAL_SECONDS; the start is an audit event."
        ),
    )
    def post(self, request, name: str):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        experiment = experiment_start(
            version=_version_or_404(name, data["version"]),
            mode=data["mode"],
            percent=data["percent"],
            reason=data["reason"],
            actor=request.user,
        )
        return Response(ExperimentOutputSerializer(experiment).data, status=201)


class ExperimentStopApi(APIView):
    permission_classes = [permission("stop_experiment", "Stopping an experiment")]
    throttle_scope = "operator"

    class InputSerializer(serializers.Serializer):
        reason = PlainTextField(max_length=REASON_MAX_LENGTH, trim_whitespace=True)

    @extend_schema(
        request=InputSerializer,
        responses={200: ExperimentOutputSerializer, **ERRORS},
        summary="Stop the running experiment; production is unchanged.",
        description="Every web process is back on production alone within MODEL_CHECK_INTERVAL_SECONDS.",
    )
    def post(self, request, name: str):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        stopped = experiment_stop(name=name, reason=serializer.validated_data["reason"], actor=request.user)
        return Response(ExperimentOutputSerializer(stopped).data)
