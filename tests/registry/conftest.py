"""Registry test fixtures: trained tiny models (once per session) and an MLflow that is down by default.

Side effects of a promotion run on commit; in tests that execute them, the MLflow mirror would talk
to the session MLflow store. Registry tests point MLflow at a closed port unless they are about the
mirror (those use `mlflow_up`), so the mirror fails in milliseconds and leaves `mlflow_synced=False`.
"""

from __future__ import annotations

import pytest

UNREACHABLE_MLFLOW = "http://127.0.0.1:9"


@pytest.fixture(autouse=True)
def one_torch_thread(settings):
    """Tiny models on a shared 2-core box: one intra-op thread is many times faster than two."""
    settings.CREATIVEOPS = {**settings.CREATIVEOPS, "TORCH_NUM_THREADS": 1}


@pytest.fixture(autouse=True)
def mlflow_down(settings):
    settings.MLFLOW_TRACKING_URI = UNREACHABLE_MLFLOW
    return UNREACHABLE_MLFLOW


@pytest.fixture
def mlflow_up(settings, mlflow_store):
    settings.MLFLOW_TRACKING_URI = mlflow_store["tracking_uri"]
    settings.MLFLOW_ARTIFACT_ROOT = mlflow_store["artifact_root"]
    return mlflow_store["tracking_uri"]


@pytest.fixture(scope="session")
def catalog_frame():
    from tests.training.ml_data import make_catalog_frame

    return make_catalog_frame(products=80, seed=3, without_creatives=0)


@pytest.fixture(scope="session")
def golden_frame():
    """A second catalog, never trained on: the golden set of the gate tests that bypass the database."""
    from tests.training.ml_data import make_catalog_frame

    frame = make_catalog_frame(products=80, seed=99, without_creatives=0)
    frame["split"] = "test"
    return frame


@pytest.fixture(scope="session")
def tiny_artifacts(tmp_path_factory, catalog_frame):
    """Two tiny models trained on the same small catalog: `early` (a few steps) and `trained`.

    Trained once per session (seconds each on one core) and copied into each test's storage.
    """
    from training.ml import TrainingConfig, train_model

    root = tmp_path_factory.mktemp("tiny-models")
    settings_by_name = {
        "early": {"epochs": 1, "max_steps": 4},
        "trained": {"epochs": 2},
    }
    artifacts = {}
    for name, overrides in settings_by_name.items():
        config = TrainingConfig.from_preset("tiny", eval_max_items=4, num_threads=1, **overrides)
        artifacts[name] = train_model(catalog_frame, config, root / name).artifact_dir
    return artifacts
