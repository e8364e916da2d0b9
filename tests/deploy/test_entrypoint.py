"""deploy/entrypoint.sh runs the right process for each subcommand (programs replaced by stubs)."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.deploy.helpers import DEPLOY

ENTRYPOINT = DEPLOY / "entrypoint.sh"
STUBBED = ("gunicorn", "celery", "mlflow", "python", "sleep")


@pytest.fixture
def stub_bin(tmp_path) -> Path:
    """Stand-ins that print their name and arguments; `python` fails while $PYTHON_FAILS has a token."""
    directory = tmp_path / "bin"
    directory.mkdir()
    for name in STUBBED:
        script = directory / name
        script.write_text(
            "#!/bin/sh\n"
            f'echo "{name} $*"\n'
            + (
                'count_file="$STUB_STATE/python-calls"\n'
                'echo x >> "$count_file"\n'
                'calls=$(wc -l < "$count_file")\n'
                '[ "$calls" -gt "${PYTHON_FAILS:-0}" ]\n'
                if name == "python"
                else ""
            )
        )
        script.chmod(0o755)
    return directory


def entrypoint(stub_bin: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {
        "PATH": f"{stub_bin}:/usr/bin:/bin",
        "STUB_STATE": str(stub_bin.parent),
        "HOME": str(stub_bin.parent),
        **env,
    }
    return subprocess.run(
        ["sh", str(ENTRYPOINT), *args], capture_output=True, text=True, env=environment, timeout=30
    )


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ([], "gunicorn creativeops.wsgi:application -c /app/deploy/gunicorn.conf.py"),
        (["web"], "gunicorn creativeops.wsgi:application -c /app/deploy/gunicorn.conf.py"),
        (
            ["worker-training"],
            "celery -A creativeops worker -Q training --concurrency 1 --prefetch-multiplier 1 "
            "-n training@%h --loglevel INFO",
        ),
        (
            ["worker-default"],
            "celery -A creativeops worker -Q default --concurrency 2 -n default@%h --loglevel INFO",
        ),
        (
            ["beat"],
            "celery -A creativeops beat --scheduler django_celery_beat.schedulers:DatabaseScheduler "
            "--loglevel INFO",
        ),
        (["migrate"], "python manage.py migrate --noinput"),
        (
            ["web", "--workers", "3"],
            "gunicorn creativeops.wsgi:application -c /app/deploy/gunicorn.conf.py --workers 3",
        ),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else None,
)
def test_subcommands(stub_bin, command, expected):
    result = entrypoint(stub_bin, *command)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_mlflow_server(stub_bin):
    uri = "postgresql+psycopg://u:p@postgres:5432/mlflow"
    result = entrypoint(stub_bin, "mlflow", MLFLOW_BACKEND_STORE_URI=uri)
    assert result.returncode == 0, result.stderr
    assert shlex.split(result.stdout) == [
        "mlflow",
        "server",
        "--backend-store-uri",
        *uri.split(),
        "--artifacts-destination",
        "/mlflow-artifacts",
        "--serve-artifacts",
        "--host",
        "0.0.0.0",
        "--port",
        "5000",
        "--workers",
        "2",
    ]


def test_mlflow_refuses_to_start_without_a_backend_store(stub_bin):
    result = entrypoint(stub_bin, "mlflow")
    assert result.returncode != 0
    assert "MLFLOW_BACKEND_STORE_URI" in result.stderr
    assert "mlflow server" not in result.stdout


def test_wait_for_migrations_waits_then_succeeds(stub_bin):
    result = entrypoint(stub_bin, "wait-for-migrations", PYTHON_FAILS="2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("sleep 5") == 2
    calls = (stub_bin.parent / "python-calls").read_text().splitlines()
    assert len(calls) == 3, "two failed `migrate --check` runs, then one that passed"


def test_wait_for_migrations_gives_up(stub_bin):
    result = entrypoint(stub_bin, "wait-for-migrations", PYTHON_FAILS="100", MIGRATION_WAIT_ATTEMPTS="3")
    assert result.returncode == 1
    assert "giving up" in result.stderr


def test_anything_else_runs_as_given(stub_bin):
    result = entrypoint(stub_bin, "python", "manage.py", "createsuperuser")
    assert result.returncode == 0
    assert result.stdout.strip() == "python manage.py createsuperuser"


def test_entrypoint_is_posix_sh():
    assert ENTRYPOINT.read_text(encoding="utf-8").startswith("#!/bin/sh\n")
    assert os.access(ENTRYPOINT, os.X_OK)
