"""The deploy tests check files and tools, not the Django application.

They run with or without pytest-django (`pytest tests/deploy -p no:django`) and with no settings module.
The project-wide autouse fixtures of tests/conftest.py need Django (settings, cache), so they are
overridden here, by name, with fixtures that do nothing.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_storage():
    yield


@pytest.fixture(autouse=True)
def _clean_cache():
    yield
