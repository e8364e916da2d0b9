"""An experiment across real web processes: two gunicorn servers (one worker each) on the test database
and the test's Redis, as two pods would run. A stop reaches every process at its next check; the shadow
runs in each process's experiment worker thread, off the request path.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.authtoken.models import Token

from inference.benchmark import Sandbox, gunicorn_server, http_request
from inference.live_experiments import in_canary
from inference.models import ExperimentSample, ExperimentTally
from registry.models import ModelVersion
from registry.services import experiment_start, experiment_stop
from tests.factories.registry import model_version_with_artifact
from tests.factories.users import make_user

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

NAME = "creative-generator"
CHECK_SECONDS = 0.2
ITEM = {
    "title": "Kettle Pro 1.7 L",
    "description": "Brushed steel, 1.7 L, auto shut-off.",
    "category": "kitchen",
}


def _database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def two_servers(on_postgres, tiny_artifact, other_tiny_artifact, tmp_path):
    if not os.environ.get("REDIS_URL"):
        pytest.skip("needs Redis: set REDIS_URL=redis://… (the CI run does): processes share the key there")
    model_version_with_artifact(source=tiny_artifact, version=1, status=ModelVersion.Status.PRODUCTION)
    challenger = model_version_with_artifact(source=other_tiny_artifact, version=2)
    token = Token.objects.create(user=make_user("storefront", is_staff=False)).key
    environment = {
        # the test process's cache prefix: both servers read the keys this process writes
        "CACHE_KEY_PREFIX": settings.CACHES["default"]["KEY_PREFIX"],
        "MODEL_CHECK_INTERVAL_SECONDS": str(CHECK_SECONDS),
        "EXPERIMENT_WORKER_THREAD": "1",
        "PREDICTION_LOG_FLUSH_SECONDS": "0.2",
    }
    ports = []
    with ExitStack() as stack:
        for index in range(2):
            workdir = tmp_path / f"server-{index}"
            workdir.mkdir()
            box = Sandbox(workdir, Path(settings.MEDIA_ROOT), _database_url())
            ports.append(
                stack.enter_context(
                    gunicorn_server(
                        box=box, threads=1, workers=1, request_threads=2, extra_environment=environment
                    )
                )
            )
        yield ports, token, challenger


def _predict(port: int, token: str, key: str) -> dict:
    connection_headers = {"X-Request-Key": key}
    status, body = http_request(port, "POST", "/api/v1/predict", ITEM, token, headers=connection_headers)
    assert status == 200, body[:300]
    return json.loads(body)


def _wait_for(condition, what: str, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_a_canary_and_a_shadow_across_two_processes(two_servers):
    """Canary: each process loads the challenger and answers a canary client with it; a stop puts both
    back on production at their next check. Shadow: each process's worker thread writes the pairs and
    the tallies, and every answer is production's."""
    ports, token, challenger = two_servers
    experiment = experiment_start(
        version=challenger, mode="canary", percent=50, reason="two pods", actor=None
    )
    keys = [f"visitor-{index}" for index in range(50)]
    canary_key = next(key for key in keys if in_canary(experiment.pk, f"header:{key}", 50))
    production_key = next(key for key in keys if not in_canary(experiment.pk, f"header:{key}", 50))
    for port in ports:  # each process loads the challenger beside production, then answers the canary with it
        _wait_for(lambda port=port: _predict(port, token, canary_key)["model_version"] == 2, f"v2 on :{port}")
        assert _predict(port, token, production_key)["model_version"] == 1

    experiment_stop(name=NAME, reason="enough", actor=None)
    time.sleep(CHECK_SECONDS * 2)

    assert [_predict(port, token, canary_key)["model_version"] for port in ports] == [1, 1]

    shadow = experiment_start(version=challenger, mode="shadow", percent=100, reason="mirror", actor=None)
    time.sleep(CHECK_SECONDS * 2)
    pairs = ExperimentSample.objects.filter(experiment=shadow, challenger_output__isnull=False)
    answers = []

    def both_processes_shadowed() -> bool:  # keep sending while each process loads the challenger
        answers.extend(_predict(port, token, f"client-{len(answers)}") for port in ports)
        return pairs.count() >= 6

    _wait_for(both_processes_shadowed, "six shadow pairs from the two processes' worker threads")
    assert {answer["model_version"] for answer in answers} == {1}  # a shadow answers with production
    assert all(sample.champion_output and sample.answered_by == "champion" for sample in pairs)
    champion = ExperimentTally.objects.filter(experiment=shadow, arm="champion")
    _wait_for(lambda: sum(champion.values_list("requests", flat=True)) >= 8, "the tallies of both processes")
