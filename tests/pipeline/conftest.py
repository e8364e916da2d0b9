"""Pipeline test fixtures. The chain runs eagerly in the test process; on-commit callbacks (which
queue it) are executed with `django_capture_on_commit_callbacks(execute=True)`."""

from __future__ import annotations

import pytest


@pytest.fixture
def start_and_run(django_capture_on_commit_callbacks):
    """`pipeline_start(...)`, then the chain it queued on commit, run in process; the run afterwards."""
    from creativeops.pipeline.services import pipeline_start

    def start(**kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            run = pipeline_start(**kwargs)
        run.refresh_from_db()
        return run

    return start


@pytest.fixture(autouse=True)
def small_golden_set(settings):
    """The gate scores every golden product with both models: 24 instead of 200 keeps it to seconds."""
    settings.CREATIVEOPS = {**settings.CREATIVEOPS, "GOLDEN_SET_SIZE": 24}
