"""Champion vs challenger on live traffic in one process: shadow, canary, stop, a challenger that fails.

The production model and the challenger are two different tiny models (trained on different catalogs),
so a challenger's output can be told from production's. What the tests assert holds for any model:
which version answered, that a client's answer is the one production alone gives, what is stored.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from prometheus_client import REGISTRY
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from inference.live_experiments import LiveExperiment, canary_bucket, in_canary
from inference.models import ExperimentArm, ExperimentSample, ExperimentTally
from registry.models import Experiment, ModelVersion, RegistryEvent
from registry.services import experiment_start, experiment_stop
from tests.factories.registry import model_version_with_artifact
from tests.factories.users import make_user

NAME = "creative-generator"
PREDICT = "/api/v1/predict"
BATCH = "/api/v1/batch_predict"
ITEMS = [
    {
        "title": "Ridgeway Ripstop Backpack 30 L",
        "description": "Ripstop nylon, sheds rain. 30 L, 3-year warranty.",
        "category": "outdoor",
        "brand": "Ridgeway",
        "price": 89.99,
    },
    {
        "title": "Kettle Pro 1.7 L",
        "description": "Brushed steel kettle with a 1.7 L tank and auto shut-off.",
        "category": "kitchen",
        "brand": "Brewline",
        "price": 39.5,
    },
    {
        "title": "Trail Runner Socks",
        "description": "Merino blend socks, 3 pairs.",
        "category": "outdoor",
        "brand": "Ridgeway",
        "price": 19.0,
    },
]


@pytest.fixture
def challenger(production_model, other_tiny_artifact) -> ModelVersion:
    return model_version_with_artifact(source=other_tiny_artifact, version=2)


def _start(challenger: ModelVersion, capture, *, mode: str, percent: int) -> Experiment:
    with capture(execute=True):  # the serving key is written on commit
        return experiment_start(version=challenger, mode=mode, percent=percent, reason="test", actor=None)


def _stop(capture) -> None:
    with capture(execute=True):
        experiment_stop(name=NAME, reason="test over", actor=None)


def _challenger_loaded() -> LiveExperiment:
    live = LiveExperiment.for_name(NAME)
    live.current(check_now=True)
    live.wait_for_load(timeout=60)
    assert live.challenger is not None, "the challenger did not load"
    return live


def _client_with_new_token() -> tuple[APIClient, str]:
    user = make_user(f"client-{Token.objects.count()}", is_staff=False)
    key = Token.objects.create(user=user).key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client, key


def _creatives(response) -> list:
    assert response.status_code == 200, response.content
    body = response.json()
    if "results" in body:
        return [result["creatives"] for result in body["results"]]
    return body["creatives"]


# --- canary assignment -------------------------------------------------------------------------


def test_canary_assignment_is_stable_per_key_and_close_to_the_percent():
    keys = [f"token:{index:05d}" for index in range(20_000)]
    for percent in (1, 10, 50):
        share = sum(in_canary(7, key, percent) for key in keys) / len(keys)
        assert abs(share - percent / 100) < 0.01, (percent, share)
    assert all(in_canary(7, key, 10) == in_canary(7, key, 10) for key in keys[:500])
    assert canary_bucket(7, "token:a") == canary_bucket(7, "token:a")
    # another experiment draws another share of clients: not always the same clients on trial
    first = {key for key in keys if in_canary(7, key, 10)}
    second = {key for key in keys if in_canary(8, key, 10)}
    assert 0.05 < len(first & second) / len(first) < 0.2


# --- shadow ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_shadow_never_changes_a_clients_answer_and_stores_both_outputs(
    api, challenger, django_capture_on_commit_callbacks, high_rates
):
    single = {**ITEMS[0], "tone": "bold", "num_variants": 2}
    batch = {"items": ITEMS, "tone": "luxury", "channel": "google_search"}
    alone = [
        _creatives(api.post(PREDICT, single, format="json")),
        _creatives(api.post(BATCH, batch, format="json")),
    ]

    experiment = _start(challenger, django_capture_on_commit_callbacks, mode="shadow", percent=100)
    _challenger_loaded()
    single_response = api.post(PREDICT, single, format="json")
    batch_response = api.post(BATCH, batch, format="json")

    assert [_creatives(single_response), _creatives(batch_response)] == alone
    assert single_response.json()["model_version"] == batch_response.json()["model_version"] == 1
    samples = list(ExperimentSample.objects.filter(experiment=experiment).order_by("id"))
    assert len(samples) == 1 + len(ITEMS)
    challenger_differs = False
    for sample in samples:
        assert sample.answered_by == ExperimentArm.CHAMPION
        assert sample.champion_output and sample.challenger_output
        for arm in ("champion", "challenger"):
            assert isinstance(getattr(sample, f"{arm}_faithful"), bool)
            assert isinstance(getattr(sample, f"{arm}_lint_clean"), bool)
            assert getattr(sample, f"{arm}_compliant") is True  # decoding keeps every channel's limits
            assert getattr(sample, f"{arm}_latency_ms") > 0
        challenger_differs |= sample.champion_output != sample.challenger_output
    # the client got production's first creative; the sample keeps it as the champion's output
    assert samples[0].champion_output["headline"] == alone[0][0]["headline"]
    assert [sample.channel for sample in samples] == ["generic"] + ["google_search"] * len(ITEMS)
    assert challenger_differs, "two models trained on different catalogs wrote the same copy"
    tallies = {tally.arm: tally for tally in ExperimentTally.objects.filter(experiment=experiment)}
    assert (tallies["champion"].requests, tallies["champion"].items) == (2, 1 + len(ITEMS))
    assert (tallies["challenger"].requests, tallies["challenger"].items) == (2, 1 + len(ITEMS))


@pytest.mark.django_db
def test_shadow_samples_a_share_of_requests_and_stops_at_the_cap(
    api, challenger, django_capture_on_commit_callbacks, high_rates, settings
):
    settings.CREATIVEOPS = {**settings.CREATIVEOPS, "EXPERIMENT_MAX_SAMPLES": 5}
    experiment = _start(challenger, django_capture_on_commit_callbacks, mode="shadow", percent=30)
    _challenger_loaded()
    requests = 40
    for index in range(requests):
        _creatives(api.post(PREDICT, {**ITEMS[index % 3], "max_new_tokens": 8}, format="json"))

    tallies = {tally.arm: tally for tally in ExperimentTally.objects.filter(experiment=experiment)}
    assert tallies["champion"].requests == requests
    shadowed = tallies["challenger"].requests
    assert 2 <= shadowed <= 25  # 30 % of 40 drawn at random: 12 expected
    assert ExperimentSample.objects.filter(experiment=experiment).count() == min(5, shadowed)


# --- canary ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_canary_answers_its_clients_with_the_challenger_and_says_so(
    challenger, django_capture_on_commit_callbacks, high_rates
):
    experiment = _start(challenger, django_capture_on_commit_callbacks, mode="canary", percent=50)
    _challenger_loaded()
    clients = [_client_with_new_token() for _ in range(12)]
    seen: dict[str, set[int]] = {}
    for _round in range(3):
        for client, key in clients:
            response = client.post(PREDICT, ITEMS[1], format="json")
            _creatives(response)
            seen.setdefault(key, set()).add(response.json()["model_version"])

    for _client, key in clients:
        expected = 2 if in_canary(experiment.pk, f"token:{key}", 50) else 1
        assert seen[key] == {expected}, "one client keeps seeing one version"
    assert {version for versions in seen.values() for version in versions} == {1, 2}
    answered = set(
        ExperimentSample.objects.filter(experiment=experiment).values_list("answered_by", flat=True)
    )
    assert answered == {"champion", "challenger"}
    challenger_rows = ExperimentSample.objects.filter(experiment=experiment, answered_by="challenger")
    assert all(row.champion_output is None and row.challenger_output for row in challenger_rows)


@pytest.mark.django_db
def test_the_request_key_header_chooses_the_arm_and_is_bounded(
    api, api_token, challenger, django_capture_on_commit_callbacks, high_rates
):
    experiment = _start(challenger, django_capture_on_commit_callbacks, mode="canary", percent=50)
    _challenger_loaded()
    keys = [f"visitor-{index}" for index in range(40)]
    inside = next(key for key in keys if in_canary(experiment.pk, f"header:{key}", 50))
    outside = next(key for key in keys if not in_canary(experiment.pk, f"header:{key}", 50))

    for key, version in ((inside, 2), (outside, 1), (inside, 2)):
        response = api.post(PREDICT, ITEMS[0], format="json", HTTP_X_REQUEST_KEY=key)
        assert response.status_code == 200 and response.json()["model_version"] == version

    too_long = api.post(PREDICT, ITEMS[0], format="json", HTTP_X_REQUEST_KEY="k" * 201)
    assert too_long.status_code == 400
    assert (
        too_long.json()["error"]["field"] == "X-Request-Key" and "200" in too_long.json()["error"]["message"]
    )


# --- stop, promotion, failure ------------------------------------------------------------------


@pytest.mark.django_db
def test_stop_puts_every_client_back_on_production_at_the_next_check(
    challenger, django_capture_on_commit_callbacks, check_interval, high_rates
):
    experiment = _start(challenger, django_capture_on_commit_callbacks, mode="canary", percent=50)
    _challenger_loaded()
    clients = [_client_with_new_token() for _ in range(10)]
    canary = [client for client, key in clients if in_canary(experiment.pk, f"token:{key}", 50)]
    assert canary, "no client of ten in a 50 % canary"
    assert {client.post(PREDICT, ITEMS[0], format="json").json()["model_version"] for client in canary} == {2}

    _stop(django_capture_on_commit_callbacks)
    time.sleep(check_interval * 2)

    versions = {
        client.post(PREDICT, ITEMS[0], format="json").json()["model_version"] for client, _ in clients
    }
    assert versions == {1}
    assert LiveExperiment.for_name(NAME).challenger is None  # the challenger is let go


def _corrupt(version: ModelVersion) -> None:
    path = Path(default_storage.path(version.artifact_uri)) / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_challenger_that_fails_to_load_ends_the_experiment_and_no_request_fails(
    api, challenger, django_capture_on_commit_callbacks, high_rates
):
    _corrupt(challenger)
    failures_before = REGISTRY.get_sample_value("creativeops_model_loads_total", {"result": "failure"}) or 0
    experiment = _start(challenger, django_capture_on_commit_callbacks, mode="canary", percent=50)

    statuses = [api.post(PREDICT, ITEMS[0], format="json", HTTP_X_REQUEST_KEY=f"v{n}") for n in range(6)]
    LiveExperiment.for_name(NAME).wait_for_load(timeout=60)
    statuses += [api.post(PREDICT, ITEMS[0], format="json", HTTP_X_REQUEST_KEY=f"v{n}") for n in range(6)]

    assert [response.status_code for response in statuses] == [200] * 12
    assert {response.json()["model_version"] for response in statuses} == {1}
    experiment.refresh_from_db()
    assert experiment.status == Experiment.Status.FAILED and experiment.stopped_at is not None
    event = RegistryEvent.objects.get(action=RegistryEvent.Action.EXPERIMENT_FAIL)
    assert event.to_version == challenger and "checksum" in event.reason
    assert event.actor_label.startswith("serving ")
    failures = REGISTRY.get_sample_value("creativeops_model_loads_total", {"result": "failure"})
    assert failures == failures_before + 1
    assert ModelVersion.objects.production().get().version == 1


@pytest.mark.django_db
def test_promoting_the_challenger_ends_the_experiment_and_serves_it_to_everyone(
    challenger, django_capture_on_commit_callbacks, check_interval, high_rates
):
    from registry.services import model_version_promote

    _start(challenger, django_capture_on_commit_callbacks, mode="canary", percent=10)
    _challenger_loaded()
    with django_capture_on_commit_callbacks(execute=True):
        model_version_promote(version=challenger, actor=None, reason="won the canary")
    time.sleep(check_interval * 2)
    clients = [_client_with_new_token() for _ in range(4)]
    for client, _key in clients:
        client.post(PREDICT, ITEMS[0], format="json")
    from inference.model_manager import ModelManager

    ModelManager.for_name(NAME).wait_for_swap(timeout=60)
    versions = {
        client.post(PREDICT, ITEMS[0], format="json").json()["model_version"] for client, _ in clients
    }
    assert versions == {2}
    assert Experiment.objects.get().status == Experiment.Status.PROMOTED


@pytest.mark.django_db
def test_requests_per_arm_reach_prometheus(api, challenger, django_capture_on_commit_callbacks, high_rates):
    def count(arm: str, version: int) -> float:
        labels = {"model_name": NAME, "model_version": str(version), "arm": arm, "mode": "shadow"}
        return REGISTRY.get_sample_value("creativeops_experiment_requests_total", labels) or 0.0

    before = count("champion", 1), count("challenger", 2)
    _start(challenger, django_capture_on_commit_callbacks, mode="shadow", percent=100)
    _challenger_loaded()
    api.post(PREDICT, ITEMS[0], format="json")

    assert (count("champion", 1), count("challenger", 2)) == (before[0] + 1, before[1] + 1)
