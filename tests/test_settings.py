"""Production settings: a missing service URL stops the process at start-up with the variable's name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVICE_URLS = {
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/never-connected",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/15",
    "REDIS_URL": "redis://127.0.0.1:6379/15",
}


def _start(tmp_path, **overrides) -> subprocess.CompletedProcess:
    """`manage.py check --deploy` under the production settings in a clean environment."""
    keep = {name: value for name, value in os.environ.items() if name in {"PATH", "HOME", "LANG"}}
    environment = {
        **keep,
        "DJANGO_SETTINGS_MODULE": "creativeops.settings",
        "DEBUG": "0",
        "SECRET_KEY": "settings-test-" + "s3cr3t" * 10,
        "ALLOWED_HOSTS": "creativeops.example.com",
        "CREATIVEOPS_DATA_DIR": str(tmp_path),
        **SERVICE_URLS,
        **overrides,
    }
    environment = {name: value for name, value in environment.items() if value is not None}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("variable", sorted(SERVICE_URLS))
def test_a_missing_service_url_stops_production_naming_it(tmp_path, variable):
    result = _start(tmp_path, **{variable: None})

    assert result.returncode != 0
    assert f"Environment variable {variable} is required" in result.stderr
    assert "CREATIVEOPS_EMBEDDED=1" in result.stderr


def test_embedded_defaults_are_allowed_when_asked_for(tmp_path):
    result = _start(
        tmp_path, DATABASE_URL=None, CELERY_BROKER_URL=None, REDIS_URL=None, CREATIVEOPS_EMBEDDED="1"
    )

    assert result.returncode == 0, result.stderr


def test_production_settings_pass_the_deploy_check(tmp_path):
    result = _start(tmp_path)

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
