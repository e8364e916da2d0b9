from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from inference.model_manager import ModelManager
from tests.factories.users import make_user
from tests.inference.conftest import tiny_artifact  # noqa: F401 - the serving tests' session model


@pytest.fixture
def marketer(db):
    """A marketer as deployed: in the marketers group and NOT staff (no admin access at all)."""
    return make_user("page-marketer", groups=["marketers"], is_staff=False)


@pytest.fixture
def operator(db):
    return make_user("page-operator", groups=["operators"], is_staff=True)


@pytest.fixture
def viewer(db):
    """May browse creatives but not regenerate them."""
    user = make_user("page-viewer", is_staff=False)
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="inference", codename="view_creative")
    )
    return user


@pytest.fixture
def marketer_client(client, marketer):
    client.force_login(marketer)
    return client


@pytest.fixture
def fresh_model_manager(settings):
    """One torch thread, and no model kept from another test (each has its own artifact storage)."""
    settings.CREATIVEOPS = {**settings.CREATIVEOPS, "TORCH_NUM_THREADS": 1, "PRELOAD_MODEL": False}
    ModelManager.reset_all()
    yield
    ModelManager.reset_all()
