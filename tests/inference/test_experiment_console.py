"""Experiments from the operator's side: the REST API (start, list, stop, comparison) and the live
comparison page in the admin with its "Promote challenger" and "Stop" decisions."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from inference.live_experiments import LiveExperiment
from registry.models import Experiment, ModelVersion, RegistryEvent
from registry.services import experiment_start
from tests.factories.registry import model_version_with_artifact
from tests.factories.users import make_user

NAME = "creative-generator"
EXPERIMENTS = f"/api/v1/models/{NAME}/experiments"
ITEMS = [
    {
        "title": "Kettle Pro 1.7 L",
        "description": "Brushed steel, 1.7 L.",
        "category": "kitchen",
        "brand": "Brewline",
    },
    {
        "title": "Trail Socks",
        "description": "Merino blend, 3 pairs.",
        "category": "outdoor",
        "brand": "Ridgeway",
    },
]


@pytest.fixture
def challenger(production_model, other_tiny_artifact) -> ModelVersion:
    return model_version_with_artifact(source=other_tiny_artifact, version=2)


@pytest.fixture
def operator_api(operator_user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=operator_user).key}")
    return client


def _shadow_with_pairs(challenger, api, capture) -> Experiment:
    with capture(execute=True):
        experiment = experiment_start(version=challenger, mode="shadow", percent=100, reason="t", actor=None)
    live = LiveExperiment.for_name(NAME)
    live.current(check_now=True)
    live.wait_for_load(timeout=60)
    for tone in ("bold", "luxury"):
        response = api.post("/api/v1/batch_predict", {"items": ITEMS, "tone": tone}, format="json")
        assert response.status_code == 200
    return experiment


@pytest.mark.django_db
def test_the_api_starts_lists_and_stops_an_experiment(operator_api, challenger, api):
    started = operator_api.post(
        EXPERIMENTS, {"version": 2, "mode": "canary", "percent": 5, "reason": "Try v2 on 5 %."}, format="json"
    )
    assert started.status_code == 201, started.content
    assert started.json() | {"started_at": None} == started.json() | {
        "model_name": NAME,
        "challenger_version": 2,
        "champion_version": 1,
        "mode": "canary",
        "percent": 5,
        "status": "running",
        "started_by_label": "operator",
        "started_at": None,
    }

    second = operator_api.post(
        EXPERIMENTS, {"version": 2, "mode": "shadow", "reason": "again"}, format="json"
    )
    assert second.status_code == 409 and "already running" in second.json()["error"]["message"]
    listed = operator_api.get(EXPERIMENTS)
    assert [row["status"] for row in listed.json()] == ["running"]

    stopped = operator_api.post(f"{EXPERIMENTS}/stop", {"reason": "Seen enough."}, format="json")
    assert stopped.status_code == 200 and stopped.json()["status"] == "stopped"
    assert operator_api.post(f"{EXPERIMENTS}/stop", {"reason": "again"}, format="json").status_code == 404
    assert list(RegistryEvent.objects.order_by("id").values_list("action", flat=True)) == [
        "experiment_start",
        "experiment_stop",
    ]


@pytest.mark.django_db
def test_the_api_names_the_field_and_limit_and_refuses_clients_without_the_permission(
    operator_api, challenger, api
):
    too_many = operator_api.post(
        EXPERIMENTS, {"version": 2, "mode": "canary", "percent": 60, "reason": "half and more"}, format="json"
    )
    assert too_many.status_code == 400
    assert too_many.json()["error"]["field"] == "percent" and "1 to 50" in too_many.json()["error"]["message"]
    no_reason = operator_api.post(EXPERIMENTS, {"version": 2, "mode": "shadow"}, format="json")
    assert no_reason.status_code == 400 and no_reason.json()["error"]["field"] == "reason"
    unknown = operator_api.post(EXPERIMENTS, {"version": 9, "mode": "shadow", "reason": "x"}, format="json")
    assert unknown.status_code == 404
    # a storefront's token may predict, not experiment
    refused = api.post(EXPERIMENTS, {"version": 2, "mode": "shadow", "reason": "x"}, format="json")
    assert refused.status_code == 403 and "start_experiment" in refused.json()["error"]["message"]
    assert api.get(EXPERIMENTS).status_code == 403
    assert not Experiment.objects.exists()


@pytest.mark.django_db
def test_the_comparison_api_gives_each_arms_live_figures_and_the_pairs(
    operator_api, challenger, api, django_capture_on_commit_callbacks, high_rates
):
    experiment = _shadow_with_pairs(challenger, api, django_capture_on_commit_callbacks)

    url = f"{EXPERIMENTS}/{experiment.pk}/comparison"
    body = operator_api.get(url).json()

    for arm, version in (("champion", 1), ("challenger", 2)):
        figures = body["arms"][arm]
        assert (figures["version"], figures["requests"], figures["items"], figures["samples"]) == (
            version,
            2,
            4,
            4,
        )
        assert figures["limit_compliance"] == 1.0
        assert 0 <= figures["fact_fidelity"] <= 1 and 0 <= figures["lint_pass_rate"] <= 1
        assert 0 < figures["latency_p50_ms"] <= figures["latency_p95_ms"]
        assert figures["mean_length"] > 0
    assert body["pairs_total"] == 4 and body["categories"] == ["kitchen", "outdoor"]
    kitchen_bold = operator_api.get(url, {"category": "kitchen", "tone": "bold"}).json()
    assert [(pair["category"], pair["tone"]) for pair in kitchen_bold["pairs"]] == [("kitchen", "bold")]
    assert set(kitchen_bold["pairs"][0]) >= {"champion", "challenger", "title"}
    assert operator_api.get(url, {"page": "x"}).status_code == 400
    assert operator_api.get(f"{EXPERIMENTS}/999/comparison").status_code == 404
    assert api.get(url).status_code == 403


@pytest.mark.django_db
def test_the_live_page_shows_both_arms_and_stops_the_experiment(
    client, operator_user, challenger, api, django_capture_on_commit_callbacks, high_rates
):
    experiment = _shadow_with_pairs(challenger, api, django_capture_on_commit_callbacks)
    client.force_login(operator_user)
    page_url = reverse("admin:registry_experiment_change", args=[experiment.pk])

    page = client.get(page_url, {"category": "outdoor"})

    html = page.content.decode()
    assert page.status_code == 200
    for text in (
        "Live comparison",
        "Latency p50 (ms)",
        "Fact fidelity",
        "Limit compliance",
        "Policy-lint pass rate",
    ):
        assert text in html
    assert 'id="experiment-stop"' in html and 'id="experiment-promote"' in html
    assert html.count("<td><strong>") == 2 * 2  # the two outdoor pairs, both arms
    assert "Brushed steel" not in html  # the kitchen item is filtered out

    stop_url = reverse("admin:registry_experiment_stop", args=[experiment.pk])
    assert client.get(stop_url).status_code == 405
    response = client.post(stop_url, {"reason": "Enough pairs read."})
    assert response.status_code == 302
    experiment.refresh_from_db()
    assert experiment.status == "stopped" and experiment.stop_reason == "Enough pairs read."
    assert 'id="experiment-stop"' not in client.get(page_url).content.decode()


@pytest.mark.django_db
def test_promote_challenger_from_the_page_needs_the_permission(
    client, operator_user, challenger, api, django_capture_on_commit_callbacks, high_rates
):
    from django.contrib.auth.models import Permission

    experiment = _shadow_with_pairs(challenger, api, django_capture_on_commit_callbacks)
    watcher = make_user("watcher")  # staff who may read experiments, not promote
    watcher.user_permissions.add(Permission.objects.get(codename="view_experiment"))
    client.force_login(watcher)
    page_url = reverse("admin:registry_experiment_change", args=[experiment.pk])
    page = client.get(page_url).content.decode()
    assert "Live comparison" in page and 'id="experiment-promote"' not in page
    assert 'id="experiment-stop"' not in page
    promote_url = reverse("admin:registry_experiment_promote", args=[experiment.pk])
    assert client.post(promote_url, {"reason": "v2 wins"}).status_code == 403
    assert (
        client.post(
            reverse("admin:registry_experiment_stop", args=[experiment.pk]), {"reason": "x"}
        ).status_code
        == 403
    )

    client.force_login(operator_user)
    no_reason = client.post(promote_url, {"reason": ""})
    assert no_reason.status_code == 302 and ModelVersion.objects.production().get().version == 1
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(promote_url, {"reason": "v2 wins on live inputs"})

    assert response.status_code == 302
    assert ModelVersion.objects.production().get().version == 2
    experiment.refresh_from_db()
    assert experiment.status == Experiment.Status.PROMOTED
    assert RegistryEvent.objects.filter(action="experiment_end", to_version=challenger).exists()
