"""The pipeline in the admin: runs with their steps and progress, and "Run pipeline now"."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from creativeops.pipeline.models import PipelineRun
from tests.factories.pipeline import PipelineRunFactory
from tests.factories.training import TrainingRunFactory
from tests.factories.users import make_user

pytestmark = pytest.mark.django_db

RUN_NOW = reverse("admin:pipeline_pipelinerun_run_now")
CHANGELIST = reverse("admin:pipeline_pipelinerun_changelist")


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_an_operator_starts_a_run_from_the_form(client, operator_user):
    client.force_login(operator_user)

    page = client.get(RUN_NOW)
    assert page.status_code == 200
    assert b'name="preset"' in page.content and b'name="new_products"' in page.content

    response = client.post(RUN_NOW, {"preset": "tiny", "new_products": "120", "seed": "5"})

    run = PipelineRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:pipeline_pipelinerun_change", args=[run.pk])
    assert run.status == PipelineRun.Status.QUEUED
    assert run.trigger == PipelineRun.Trigger.MANUAL
    assert run.triggered_by == operator_user
    assert run.options == {"preset": "tiny", "new_products": 120, "seed": 5, "hyperparameters": {}}
    assert _messages(response) == [f"Pipeline run #{run.pk} started."]


def test_a_user_without_the_permission_is_refused(client):
    viewer = make_user("viewer")  # staff, no role
    client.force_login(viewer)

    assert client.get(RUN_NOW).status_code == 403
    assert client.post(RUN_NOW, {"preset": "tiny", "new_products": "0"}).status_code == 403
    assert PipelineRun.objects.count() == 0


def test_a_marketer_is_refused(client, marketer_user):
    client.force_login(marketer_user)

    response = client.post(RUN_NOW, {"preset": "tiny", "new_products": "0"})
    # Marketers are not staff: the admin sends them to its login page.
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert PipelineRun.objects.count() == 0


def test_an_invalid_option_is_shown_on_its_field(client, operator_user):
    client.force_login(operator_user)

    response = client.post(RUN_NOW, {"preset": "tiny", "new_products": "10", "seed": "20240601"})

    assert response.status_code == 200
    assert response.context["form"].errors == {
        "seed": ["Seed 20240601 is the golden evaluation set's seed (GOLDEN_SET_SEED); pick another."]
    }
    assert PipelineRun.objects.count() == 0


def test_a_start_while_one_runs_is_recorded_as_skipped(client, operator_user):
    holder = PipelineRunFactory(running=True)
    client.force_login(operator_user)

    response = client.post(RUN_NOW, {"preset": "tiny", "new_products": "0"})

    skipped = PipelineRun.objects.exclude(pk=holder.pk).get()
    assert skipped.status == PipelineRun.Status.SKIPPED
    assert skipped.skipped_because_of == holder
    assert response.status_code == 302
    assert _messages(response) == [skipped.error]
    assert f"pipeline run #{holder.pk}" in skipped.error


def test_the_list_shows_steps_and_progress_and_the_button_only_to_operators(client, operator_user):
    training_run = TrainingRunFactory(running=True)  # 25 % through its training
    PipelineRunFactory(running=True, training_run=training_run)
    client.force_login(operator_user)

    page = client.get(CHANGELIST)

    assert page.status_code == 200
    html = page.content.decode()
    assert "Run pipeline now" in html
    # generate and snapshot done (2 of 5), training 25 % of its fifth: 45 %.
    assert 'value="45.0"' in html and "45% (train, training ETA 540 s)" in html
    assert html.count('class="co-badge"') >= 6


def test_the_change_page_shows_the_steps_table(client, operator_user):
    run = PipelineRunFactory(running=True)
    client.force_login(operator_user)

    page = client.get(reverse("admin:pipeline_pipelinerun_change", args=[run.pk]))

    assert page.status_code == 200
    html = page.content.decode()
    assert "<th>step</th><th>status</th>" in html
    for step in PipelineRun.STEPS:
        assert f"<td>{step}</td>" in html
