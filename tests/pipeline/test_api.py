"""POST /api/v1/pipeline/runs (operators) and GET /api/v1/pipeline/runs/<id>."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from creativeops.pipeline.models import PipelineRun
from tests.factories.pipeline import PipelineRunFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/pipeline/runs"


@pytest.fixture
def api():
    return APIClient()


def test_an_operator_starts_a_run(api, operator_user):
    api.force_authenticate(operator_user)

    response = api.post(URL, {"preset": "tiny", "new_products": 50, "seed": 9}, format="json")

    assert response.status_code == 202
    run = PipelineRun.objects.get()
    assert response.json()["id"] == run.pk
    assert response.json()["status"] == "queued"
    assert response.json()["options"] == {
        "preset": "tiny",
        "new_products": 50,
        "seed": 9,
        "hyperparameters": {},
    }
    assert response.json()["progress"] == {"step": "", "steps_done": 0, "steps_total": 5, "percent": 0.0}
    assert run.trigger == PipelineRun.Trigger.API
    assert run.triggered_by == operator_user


def test_starting_needs_the_permission(api, marketer_user):
    api.force_authenticate(marketer_user)

    response = api.post(URL, {"preset": "tiny"}, format="json")

    assert response.status_code == 403
    assert response.json() == {
        "error": {
            "message": "Starting the pipeline needs the operator permission pipeline.start_pipelinerun."
        }
    }
    assert PipelineRun.objects.count() == 0


def test_anonymous_callers_are_refused(api):
    assert api.post(URL, {"preset": "tiny"}, format="json").status_code in (401, 403)
    assert PipelineRun.objects.count() == 0


def test_a_bad_preset_is_a_400_naming_the_field(api, operator_user):
    api.force_authenticate(operator_user)

    response = api.post(URL, {"preset": "huge"}, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"] == "preset: Unknown preset 'huge'; choose one of: tiny, small, base."
    assert list(error["details"]) == ["preset"]
    assert PipelineRun.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (
            {"new_products": 100_001},
            "new_products",
            "new_products must be a whole number from 0 to 100,000; got 100001.",
        ),
        (
            {"hyperparameters": {"epochs": 0}},
            "hyperparameters",
            "Hyperparameter 'epochs' must be between 1 and 500, got 0.",
        ),
    ],
)
def test_options_the_service_refuses_are_a_400_naming_the_field(api, operator_user, body, field, message):
    api.force_authenticate(operator_user)

    response = api.post(URL, body, format="json")

    assert response.status_code == 400
    assert response.json() == {"error": {"message": message, "field": field}}


def test_a_start_while_one_runs_is_a_409_naming_the_running_one(api, operator_user):
    holder = PipelineRunFactory(running=True)
    api.force_authenticate(operator_user)

    response = api.post(URL, {"preset": "tiny"}, format="json")

    skipped = PipelineRun.objects.exclude(pk=holder.pk).get()
    assert response.status_code == 409
    assert response.json() == {
        "error": {"message": skipped.error, "run": skipped.pk, "skipped_because_of": holder.pk}
    }
    assert skipped.status == PipelineRun.Status.SKIPPED


def test_a_run_can_be_read_with_its_progress(api, operator_user, marketer_user):
    run = PipelineRunFactory(running=True)
    api.force_authenticate(operator_user)

    response = api.get(f"{URL}/{run.pk}")

    assert response.status_code == 200
    assert response.json()["status"] == "running"
    assert response.json()["progress"]["steps_done"] == 2
    assert api.get(f"{URL}/{run.pk + 1}").status_code == 404
    api.force_authenticate(marketer_user)
    assert api.get(f"{URL}/{run.pk}").status_code == 403
