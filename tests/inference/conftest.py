"""One tiny model trained for the whole session, registered per test in that test's artifact storage.

Training takes seconds (tiny preset, one torch thread); each test then copies the artifact folder
into its own MEDIA_ROOT and registers it as a ModelVersion with the copy's real checksum, so the
serving code verifies and loads it exactly as it would in production.
"""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from inference.model_manager import ModelManager
from registry.models import ModelVersion
from tests.factories.registry import model_version_with_artifact
from tests.factories.users import make_user


def _train_tiny(tmp_path_factory, name: str, products: int, seed: int):
    import torch

    from products.services import generated_catalog_frame
    from training.ml import TrainingConfig, train_model

    # Two shared cores: one torch thread per process is both faster and kinder to the neighbours.
    torch.set_num_threads(1)
    output = tmp_path_factory.mktemp(name) / "artifact"
    train_model(
        generated_catalog_frame(products, seed=seed),
        TrainingConfig.from_preset("tiny", num_threads=1),
        output,
    )
    return output


@pytest.fixture(scope="session")
def tiny_artifact(tmp_path_factory):
    """The artifact folder of one `tiny` model (trained once per session, never modified): 120 products
    of the synthetic catalog (seed 3), one row per product and tone."""
    return _train_tiny(tmp_path_factory, "tiny-model", 120, 3)


@pytest.fixture(scope="session")
def other_tiny_artifact(tmp_path_factory):
    """A second `tiny` model, trained on another catalog (seed 5): a challenger that writes differently."""
    return _train_tiny(tmp_path_factory, "other-tiny-model", 80, 5)


@pytest.fixture(autouse=True)
def _serving_settings(settings):
    settings.CREATIVEOPS = {**settings.CREATIVEOPS, "TORCH_NUM_THREADS": 1, "PRELOAD_MODEL": False}
    ModelManager.reset_all()
    yield
    ModelManager.reset_all()


@pytest.fixture
def check_interval(settings):
    """Notice promotions within 0.1 s (the production default is a few seconds)."""
    settings.CREATIVEOPS = {**settings.CREATIVEOPS, "MODEL_CHECK_INTERVAL_SECONDS": 0.1}
    return 0.1


@pytest.fixture
def production_model(db, tiny_artifact) -> ModelVersion:
    return model_version_with_artifact(source=tiny_artifact, version=1, status=ModelVersion.Status.PRODUCTION)


@pytest.fixture
def api_user(db):
    return make_user("api-client", is_staff=False)


@pytest.fixture
def api_token(api_user) -> str:
    return Token.objects.create(user=api_user).key


@pytest.fixture
def api(api_token) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token}")
    return client


@pytest.fixture
def high_rates(settings):
    """Rates no test reaches, for tests that send many requests."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "predict": "100000/min",
            "batch_predict": "100000/min",
        },
    }
