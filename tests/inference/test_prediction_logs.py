"""The background writer of PredictionLog rows: batches, flushes on demand, survives a database error."""

from __future__ import annotations

import time

import pytest

from inference.models import PredictionLog
from inference.services import prediction_logs
from inference.services.prediction_logs import prediction_logs_flush, prediction_logs_submit
from tests.factories.registry import ModelVersionFactory

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _logs(version, count: int) -> list[PredictionLog]:
    return [
        PredictionLog(
            model_version=version,
            endpoint="predict",
            tone="bold",
            title_length=index,
            description_length=9,
            latency_ms=1.0,
        )
        for index in range(count)
    ]


@pytest.fixture
def writer(settings, monkeypatch):
    settings.CREATIVEOPS = {**settings.CREATIVEOPS, "PREDICTION_LOG_FLUSH_SECONDS": 0.05}
    fresh = prediction_logs._Writer()
    monkeypatch.setattr(prediction_logs, "_writer", fresh)
    yield fresh
    fresh.stop()
    assert fresh._thread is None or not fresh._thread.is_alive()


def _wait_for(count: int, seconds: float = 10.0) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = PredictionLog.objects.count()
        if found >= count:
            return found
        time.sleep(0.02)
    return PredictionLog.objects.count()


def test_queued_rows_are_written_by_the_background_thread(writer):
    version = ModelVersionFactory()

    prediction_logs_submit(logs=_logs(version, 3))
    prediction_logs_submit(logs=_logs(version, 2))

    assert _wait_for(5) == 5
    assert writer._thread is not None and writer._thread.name == "prediction-log-writer"


def test_flush_writes_everything_queued_in_the_calling_thread(writer, settings):
    settings.CREATIVEOPS = {**settings.CREATIVEOPS, "PREDICTION_LOG_FLUSH_SECONDS": 60}
    version = ModelVersionFactory()
    prediction_logs_submit(logs=_logs(version, 4))

    prediction_logs_flush()

    assert PredictionLog.objects.count() == 4


def test_the_writer_survives_a_refused_batch(writer, monkeypatch):
    from django.db import OperationalError

    version = ModelVersionFactory()
    real_bulk_create = PredictionLog.objects.bulk_create
    calls = []

    def refuse_once(objs, **kwargs):
        calls.append(len(objs))
        if len(calls) == 1:
            raise OperationalError("database restarting")
        return real_bulk_create(objs, **kwargs)

    monkeypatch.setattr(PredictionLog.objects, "bulk_create", refuse_once)
    prediction_logs_submit(logs=_logs(version, 2))
    deadline = time.monotonic() + 10
    while not calls and time.monotonic() < deadline:
        time.sleep(0.02)

    prediction_logs_submit(logs=_logs(version, 3))

    assert _wait_for(3) == 3  # the refused batch is lost (drift samples), the next one is written
    assert calls[0] == 2


def test_a_full_queue_drops_the_oldest_rows(writer, monkeypatch, settings):
    settings.CREATIVEOPS = {**settings.CREATIVEOPS, "PREDICTION_LOG_FLUSH_SECONDS": 60}
    monkeypatch.setattr(prediction_logs, "MAX_QUEUED_ROWS", 5)
    version = ModelVersionFactory()

    prediction_logs_submit(logs=_logs(version, 4))
    prediction_logs_submit(logs=_logs(version, 4))

    assert [log.title_length for log in writer._pending] == [3, 0, 1, 2, 3]
    assert writer._dropped == 3
