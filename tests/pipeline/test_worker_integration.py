"""The chain on real Celery workers (subprocesses) with the local Redis broker and PostgreSQL.

Each worker is `celery -A creativeops worker -Q default,training --pool solo` with the test database,
the test's artifact folder and the session MLflow store in its environment, so it reads and writes
exactly what the test process sees. Eager mode is off in the test process for these tests.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection, connections

from creativeops.celery import app
from creativeops.pipeline.models import PipelineRun
from creativeops.pipeline.selectors import FINISHED_STATUSES
from creativeops.pipeline.services import pipeline_runs_reap_stale, pipeline_start
from registry.models import ModelVersion
from tests.factories.pipeline import FAST_OPTIONS
from training.models import TrainingRun
from training.storage import artifact_exists, model_artifact_name, staging_directories

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

BROKER_URL = os.environ.get("PIPELINE_TEST_BROKER_URL", "redis://127.0.0.1:6379/11")
CELERY = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "celery"
# 12 s without a sign of life and a run is dead: the SIGKILL case waits that long, not ten minutes.
STALE_RUN_MINUTES = 0.2
WORKER_READY_SECONDS = 90
CHAIN_SECONDS = 240


def _database_url() -> str:
    db = connection.settings_dict
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Workers:
    """Starts worker subprocesses on demand; stops every one of them at teardown (bounded waits)."""

    def __init__(self, log_dir: Path, env: dict[str, str]):
        self.log_dir = log_dir
        self.env = env
        self.processes: list[subprocess.Popen] = []

    def start(self) -> subprocess.Popen:
        name = f"test-{uuid.uuid4().hex[:8]}"
        log = self.log_dir / f"{name}.log"
        command = [str(CELERY), "-A", "creativeops", "worker", "-Q", "default,training", "--pool", "solo"]
        command += ["--concurrency", "1", "-n", f"{name}@%h", "--loglevel", "INFO"]
        command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        with log.open("wb") as sink:
            process = subprocess.Popen(
                command, env=self.env, stdout=sink, stderr=subprocess.STDOUT, cwd=settings.BASE_DIR
            )
        process.name, process.log = name, log
        self.processes.append(process)
        deadline = time.monotonic() + WORKER_READY_SECONDS
        while b" ready." not in log.read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"worker {name} did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture
def workers(on_postgres, settings, mlflow_store, tmp_path, monkeypatch):
    settings.CREATIVEOPS = {**settings.CREATIVEOPS, "STALE_RUN_MINUTES": STALE_RUN_MINUTES}
    settings.CELERY_TASK_ALWAYS_EAGER = False
    saved = {key: app.conf[key] for key in ("task_always_eager", "broker_url")}
    app.conf.task_always_eager = False
    app.conf.broker_url = BROKER_URL
    # Celery reads CELERY_BROKER_URL from the environment before its own configuration (CI sets it).
    monkeypatch.setenv("CELERY_BROKER_URL", BROKER_URL)
    app._pool, app.amqp._producer_pool = None, None
    broker = redis.Redis.from_url(BROKER_URL)
    broker.flushdb()  # a dedicated database: no message of an earlier run may reach these workers
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "creativeops.settings",
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": BROKER_URL,
        "CREATIVEOPS_DATA_DIR": str(Path(settings.MEDIA_ROOT).parent),
        "CREATIVEOPS_ARTIFACT_ROOT": str(settings.MEDIA_ROOT),
        "MLFLOW_TRACKING_URI": mlflow_store["tracking_uri"],
        "MLFLOW_ARTIFACT_ROOT": mlflow_store["artifact_root"],
        "SECRET_KEY": "integration-tests-only-" + "k" * 40,
        "DEBUG": "0",
        # Production settings refuse a missing REDIS_URL; without one (a laptop run) the workers use the
        # embedded file cache, which these tests do not depend on.
        **(
            {"REDIS_URL": os.environ["REDIS_URL"]}
            if os.environ.get("REDIS_URL")
            else {"CREATIVEOPS_EMBEDDED": "1"}
        ),
        "STALE_RUN_MINUTES": str(STALE_RUN_MINUTES),
        "GOLDEN_SET_SIZE": str(settings.CREATIVEOPS["GOLDEN_SET_SIZE"]),
        "PYTHONUNBUFFERED": "1",
    }
    started = Workers(tmp_path, env)
    yield started
    started.stop_all()
    broker.flushdb()
    broker.close()
    app.conf.task_always_eager, app.conf.broker_url = saved["task_always_eager"], saved["broker_url"]
    app._pool, app.amqp._producer_pool = None, None


def _wait_for(run_id: int, done, *, timeout: float = CHAIN_SECONDS, what: str = "the run to finish"):
    deadline = time.monotonic() + timeout
    while True:
        run = PipelineRun.objects.select_related("training_run").get(pk=run_id)
        if done(run):
            return run
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}: {run.status}, steps {run.steps}")
        time.sleep(1)


def _finished(run: PipelineRun) -> bool:
    return run.status in FINISHED_STATUSES


def test_the_chain_on_a_worker_ends_in_a_candidate_with_lineage(workers):
    worker = workers.start()

    run = pipeline_start(trigger=PipelineRun.Trigger.MANUAL, options=FAST_OPTIONS)
    run = _wait_for(run.pk, _finished)

    assert run.status == PipelineRun.Status.SUCCEEDED, run.error
    assert all(run.steps[step]["status"] == "succeeded" for step in PipelineRun.STEPS)
    version = ModelVersion.objects.get()
    assert run.model_version == version
    assert version.status == ModelVersion.Status.CANDIDATE
    assert version.training_run == run.training_run
    assert version.training_run.dataset_version == run.dataset_version
    assert run.dataset_version.product_count == 100
    assert run.gate_decision == "candidate" and run.gate_reason == version.gate_reason
    assert run.training_run.worker.startswith(f"{worker.name}@")
    assert artifact_exists(version.artifact_uri)


def test_two_starts_at_once_one_runs_and_the_other_is_skipped(workers):
    workers.start()
    barrier = threading.Barrier(2)
    results: list[PipelineRun] = []
    errors: list[BaseException] = []

    def start():
        try:
            barrier.wait(timeout=30)
            # An empty catalog: the winner runs on the worker and ends within seconds, at its snapshot.
            results.append(pipeline_start(trigger=PipelineRun.Trigger.API, options={"preset": "tiny"}))
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    skipped = [run for run in results if run.status == PipelineRun.Status.SKIPPED]
    started = [run for run in results if run.status != PipelineRun.Status.SKIPPED]
    assert len(skipped) == len(started) == 1
    assert skipped[0].skipped_because_of_id == started[0].pk
    assert f"pipeline run #{started[0].pk} " in skipped[0].error
    winner = _wait_for(started[0].pk, _finished, timeout=120)
    assert winner.steps["generate"]["status"] == "succeeded"  # it ran, on the worker
    assert winner.error == (
        "snapshot: The catalog is empty: generate or import products before cutting a dataset version."
    )
    assert PipelineRun.objects.count() == 2


def test_a_worker_killed_mid_training_fails_the_run_cleanly_and_the_next_run_succeeds(workers):
    doomed = workers.start()
    # Many epochs: the training lasts long enough to be killed in the middle.
    long_options = {**FAST_OPTIONS, "hyperparameters": {"epochs": 200, "eval_max_items": 4}}
    run = pipeline_start(trigger=PipelineRun.Trigger.MANUAL, options=long_options)
    run = _wait_for(
        run.pk,
        lambda run: (
            run.training_run is not None
            and run.training_run.status == "running"
            and run.training_run.step > 0
        ),
        timeout=180,
        what="the training to make progress",
    )
    training_run = run.training_run

    os.kill(doomed.pid, signal.SIGKILL)
    doomed.wait(timeout=10)
    killed_at = time.monotonic()

    # What beat's "Reap stale pipeline and training runs" entry does every minute.
    deadline = killed_at + STALE_RUN_MINUTES * 60 + 60
    while not pipeline_runs_reap_stale() and time.monotonic() < deadline:
        time.sleep(2)
    run.refresh_from_db()
    training_run.refresh_from_db()
    assert run.status == PipelineRun.Status.FAILED
    assert run.error.startswith("train: No sign of life from its worker since ")
    assert "the worker was lost; marked failed by the reaper" in run.error
    assert training_run.status == TrainingRun.Status.FAILED
    assert training_run.error.startswith(f"Worker {doomed.name}@")
    # No model version, and no artifact from the partial training; its staging folder is gone too.
    assert ModelVersion.objects.count() == 0
    assert not artifact_exists(model_artifact_name(training_run.pk))
    assert staging_directories(training_run.pk) == []

    workers.start()
    following = pipeline_start(trigger=PipelineRun.Trigger.MANUAL, options=FAST_OPTIONS)
    assert following.status == PipelineRun.Status.QUEUED  # the lock was released
    following = _wait_for(following.pk, _finished)
    assert following.status == PipelineRun.Status.SUCCEEDED, following.error
    assert ModelVersion.objects.get().training_run == following.training_run
