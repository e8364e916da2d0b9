"""An operator in a real browser: the dashboard, approving a candidate through the confirmation page;
and a marketer who cannot reach the registry's actions."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from creativeops.pipeline.models import PipelineRun
from registry.models import ModelVersion, RegistryEvent
from tests.browser.conftest import log_in
from tests.factories.pipeline import PipelineRunFactory
from tests.factories.registry import evaluation_for, model_version_with_artifact
from tests.pages.builders import make_product

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def registry_with_candidate(tiny_artifact, operator):
    """v1 in production, v2 a candidate that beat it at evaluation; both with real artifacts."""
    make_product("OUT-001", title="Ridgeway Storm Tent 2P", category="Outdoor", brand="Ridgeway")
    v1 = model_version_with_artifact(source=tiny_artifact, version=1, status=ModelVersion.Status.PRODUCTION)
    v2 = model_version_with_artifact(source=tiny_artifact, version=2, status=ModelVersion.Status.CANDIDATE)
    ModelVersion.objects.filter(pk=v1.pk).update(
        metrics={"rouge_l": 0.31}, evaluation=evaluation_for(test=0.31, golden=0.29)
    )
    ModelVersion.objects.filter(pk=v2.pk).update(
        metrics={"rouge_l": 0.37},
        evaluation=evaluation_for(test=0.37, golden=0.35, production=(0.31, 0.29), against=1),
    )
    PipelineRunFactory(status=PipelineRun.Status.SUCCEEDED, gate_decision="candidate")
    PipelineRunFactory(status=PipelineRun.Status.FAILED, error="train: worker lost")
    return {"v1": v1, "v2": v2}


def test_operator_approves_a_candidate_from_the_dashboard(page, registry_with_candidate, screenshot):
    log_in(page, "browser-operator", path="/admin/")
    expect(page).to_have_url(re.compile(r"/admin/$"))
    dashboard = page.locator(".co-dashboard")
    expect(dashboard.locator("#dashboard-production .figure")).to_contain_text("v1")
    expect(dashboard.locator("#dashboard-candidates")).to_contain_text("+0.0600 vs v1")
    expect(dashboard.locator("#dashboard-runs .badge-failed")).to_have_text("Failed")
    expect(dashboard.locator("#dashboard-chart svg")).to_be_visible()
    expect(dashboard.locator("#dashboard-schedule .figure")).to_contain_text("00:00 UTC")
    expect(dashboard.locator("#dashboard-drift")).to_contain_text("No drift report yet.")
    screenshot(page, "dashboard")

    # The candidate's page (where it is compared with production), then its action.
    dashboard.get_by_role("link", name="Compare with production").click()
    expect(page).to_have_url(
        re.compile(rf"/admin/registry/modelversion/{registry_with_candidate['v2'].pk}/change/")
    )
    screenshot(page, "compare")

    page.goto("/admin/registry/modelversion/")
    page.locator(f"input[name=_selected_action][value='{registry_with_candidate['v2'].pk}']").check()
    page.locator("select[name=action]").select_option("promote_action")
    page.get_by_role("button", name="Go").click()
    expect(
        page.get_by_role("heading", name=re.compile("Approve and promote: creative-generator v2"))
    ).to_be_visible()
    screenshot(page, "confirm-promotion")

    page.get_by_label("Reason").fill("Beats v1 by 0.06 ROUGE-L on the same test rows.")
    page.get_by_role("button", name="Yes, promote to production").click()
    # Promotion mirrors the registry to MLflow in the same request (eager Celery): the first one
    # creates MLflow's tables, which takes seconds on a busy machine.
    expect(page.locator("ul.messagelist")).to_contain_text("v2", timeout=90_000)
    screenshot(page, "promoted")

    assert (
        ModelVersion.objects.get(pk=registry_with_candidate["v2"].pk).status == ModelVersion.Status.PRODUCTION
    )
    assert (
        ModelVersion.objects.get(pk=registry_with_candidate["v1"].pk).status == ModelVersion.Status.ARCHIVED
    )
    event = RegistryEvent.objects.get(
        to_version=registry_with_candidate["v2"], action=RegistryEvent.Action.PROMOTE
    )
    assert (event.actor_label, event.from_version) == ("browser-operator", registry_with_candidate["v1"])

    page.goto("/admin/")
    expect(page.locator("#dashboard-production .figure")).to_contain_text("v2")
    expect(page.locator("#dashboard-candidates")).to_contain_text("No candidate is waiting for approval.")
    screenshot(page, "dashboard-after")


def test_marketer_cannot_reach_registry_actions(page, registry_with_candidate, marketer, screenshot):
    log_in(page, "browser-marketer")

    page.goto("/admin/registry/modelversion/")

    # Not staff: the admin answers with its login page and says the account may not open it.
    expect(page).to_have_url(re.compile(r"/admin/login/\?next=/admin/registry/modelversion/"))
    expect(page.locator(".errornote")).to_contain_text("You are authenticated as browser-marketer")
    screenshot(page, "admin-refused")
    # The marketer's own nav has no way into the admin.
    page.goto("/creatives/")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link")).to_have_text(["Creatives"])
    assert (
        ModelVersion.objects.get(pk=registry_with_candidate["v1"].pk).status == ModelVersion.Status.PRODUCTION
    )
