from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from creativeops.console.dashboard import NIGHTLY_TASK, next_scheduled_run, operator_dashboard
from creativeops.monitoring.models import DriftReport
from creativeops.pipeline.models import PipelineRun
from registry.models import ModelVersion
from tests.factories.pipeline import PipelineRunFactory
from tests.factories.registry import evaluation_for
from tests.factories.users import make_user
from tests.pages.builders import make_model_version, page_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def registry_state():
    """v1 archived, v2 in production (beat v1), v3 a candidate that beat v2 by 0.05 on the same rows."""
    v1 = make_model_version(1, rouge_l=0.30, evaluation=evaluation_for(test=0.30, golden=0.28))
    v2 = make_model_version(
        2,
        status=ModelVersion.Status.PRODUCTION,
        rouge_l=0.36,
        evaluation=evaluation_for(test=0.36, golden=0.33, production=(0.30, 0.28), against=1),
    )
    v3 = make_model_version(
        3,
        status=ModelVersion.Status.CANDIDATE,
        rouge_l=0.41,
        evaluation=evaluation_for(test=0.41, golden=0.39, production=(0.36, 0.33), against=2),
    )
    return {"v1": v1, "v2": v2, "v3": v3}


def make_run(status: str, **fields) -> PipelineRun:
    return PipelineRunFactory(status=status, **fields)


def test_operator_sees_the_dashboard_on_the_admin_index(client, operator, registry_state):
    for _ in range(11):
        make_run(PipelineRun.Status.SUCCEEDED, gate_decision="candidate")
    make_run(PipelineRun.Status.FAILED, error="train: out of memory")
    client.force_login(operator)

    response = client.get("/admin/")

    assert response.status_code == 200
    dashboard = response.context["dashboard"]
    assert dashboard.production == registry_state["v2"]
    assert dashboard.production_metric == pytest.approx(0.36)
    assert len(dashboard.recent_runs) == 10
    assert dashboard.recent_runs[0].status == PipelineRun.Status.FAILED
    assert [
        (row.version.version, round(row.change, 4), row.compared_with) for row in dashboard.candidates
    ] == [(3, 0.05, 2)]
    html = response.content.decode()
    text = page_text(response)
    assert "Operator dashboard · creative-generator" in text
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="line-chart"' in html
    assert "rouge_l by model version" in html
    assert '<span class="badge badge-failed">Failed</span>' in html
    assert html.count('<span class="badge badge-succeeded">Succeeded</span>') == 9
    assert "+0.0500 vs v2" in text
    assert "No drift report yet." in text
    # The nightly entry the pipeline's migration installs: midnight UTC.
    assert dashboard.next_run.task.task == NIGHTLY_TASK
    assert dashboard.next_run.at.time().isoformat() == "00:00:00"
    assert "creativeops/components.css" in html  # the admin gets the badge styles


def test_staff_without_registry_permission_see_the_normal_index(client):
    staff = make_user("helpdesk", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_product"))
    client.force_login(staff)

    response = client.get("/admin/")

    assert response.status_code == 200
    assert response.context["dashboard"] is None
    assert "Operator dashboard" not in page_text(response)


def test_dashboard_without_production_or_runs(client, operator):
    client.force_login(operator)

    text = page_text(client.get("/admin/"))

    assert "No model is in production yet: approve a candidate below to serve it." in text
    assert "No candidate is waiting for approval." in text
    assert "No pipeline run yet." in text
    assert "No data yet" in text  # the empty chart


def test_drift_status_compares_the_latest_max_psi_with_its_threshold(client, operator, registry_state):
    window_end = datetime(2026, 3, 1, 12, tzinfo=UTC)
    common = {"window_start": window_end - timedelta(days=1), "window_end": window_end, "threshold": 0.2}
    DriftReport.objects.create(sample_size=500, max_psi=0.05, drifted=False, **common)
    latest = DriftReport.objects.create(sample_size=800, max_psi=0.31, drifted=True, **common)
    client.force_login(operator)

    response = client.get("/admin/")

    drift = response.context["dashboard"].drift
    assert drift.report == latest
    assert drift.drifted
    assert "Max PSI 0.310 vs threshold 0.20, on 800 predictions" in page_text(response)
    assert '<span class="badge badge-drifted">Drift</span>' in response.content.decode()


def test_next_run_follows_an_edited_crontab_and_ignores_disabled_entries():
    PeriodicTask.objects.filter(task=NIGHTLY_TASK).update(enabled=False)
    now = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday
    assert next_scheduled_run(now=now) is None

    weekly = CrontabSchedule.objects.create(minute="30", hour="2", day_of_week="1", timezone="UTC")
    PeriodicTask.objects.create(name="weekly retrain", task=NIGHTLY_TASK, crontab=weekly)

    upcoming = next_scheduled_run(now=now)

    assert upcoming.at == datetime(2026, 3, 9, 2, 30, tzinfo=UTC)  # next Monday 02:30
    assert upcoming.task.name == "weekly retrain"


def test_next_run_of_the_installed_nightly_entry_is_the_coming_midnight():
    upcoming = next_scheduled_run(now=datetime(2026, 3, 4, 23, 59, 30, tzinfo=UTC))

    assert upcoming.at == datetime(2026, 3, 5, 0, 0, tzinfo=UTC)


def test_operator_dashboard_for_a_candidate_without_production_comparison(registry_state):
    make_model_version(4, status=ModelVersion.Status.CANDIDATE, rouge_l=0.2, evaluation={})

    rows = operator_dashboard().candidates

    assert [(row.version.version, row.change) for row in rows] == [(4, None), (3, pytest.approx(0.05))]
