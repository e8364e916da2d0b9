"""GitHub Actions workflows: valid against the GitHub workflow schema, and doing what the release needs."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.deploy.helpers import REPO, find_tool, run

WORKFLOWS = REPO / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))


@pytest.fixture(scope="module")
def check_jsonschema() -> str:
    tool = find_tool("check-jsonschema")
    assert tool, "check-jsonschema not found: install the dev extra"
    return tool


def load(name: str) -> dict:
    # PyYAML reads the bare key `on` as True (YAML 1.1); GitHub reads it as "on".
    workflow = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


def steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def scripts(workflow: dict) -> str:
    return "\n".join(step.get("run", "") for step in steps(workflow))


def test_the_expected_workflows_exist():
    assert [path.name for path in FILES] == ["ci.yml", "deploy.yml", "image.yml"]


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_valid_github_workflow(check_jsonschema, path):
    result = run([check_jsonschema, "--builtin-schema", "vendor.github-workflows", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_a_broken_workflow(check_jsonschema, tmp_path):
    """The check above can fail: a job without runs-on is refused."""
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  build:\n    steps:\n      - run: echo hi\n")
    result = run([check_jsonschema, "--builtin-schema", "vendor.github-workflows", str(broken)])
    assert result.returncode != 0


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_actions_are_pinned_to_a_version(path):
    for step in steps(load(path.name)):
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@(v\d+|[0-9a-f]{40})", step["uses"]), step["uses"]


def test_ci_runs_ruff_and_make_test_against_postgres_and_redis():
    ci = load("ci.yml")
    test_job = ci["jobs"]["test"]
    assert test_job["services"]["postgres"]["image"] == "postgres:15"
    assert test_job["services"]["redis"]["image"] == "redis:7"
    assert test_job["env"]["DATABASE_URL"].startswith("postgres://")
    assert test_job["env"]["CELERY_BROKER_URL"].startswith("redis://")
    assert "make test" in scripts(ci)
    assert "ruff check" in scripts(ci)
    assert "download.pytorch.org/whl/cpu" in scripts(ci)
    assert "prometheus" in scripts(ci), "promtool must be installed for the deploy tests"


def test_image_is_built_and_pushed_to_ghcr_with_version_and_sha():
    image = load("image.yml")
    assert image["on"]["push"]["branches"] == ["main"]
    assert image["on"]["push"]["tags"]
    assert image["permissions"]["packages"] == "write"
    uses = {step["uses"].split("@")[0]: step for step in steps(image) if "uses" in step}
    build = uses["docker/build-push-action"]["with"]
    assert build["push"] is True
    tags = uses["docker/metadata-action"]["with"]["tags"]
    assert "steps.version.outputs.version" in tags and "{{sha}}" in tags
    assert uses["docker/metadata-action"]["with"]["images"].startswith("ghcr.io/")
    assert "pyproject.toml" in scripts(image)


def test_deploy_sets_the_image_and_applies_the_overlay():
    deploy = load("deploy.yml")
    assert "workflow_dispatch" in deploy["on"] and "workflow_run" in deploy["on"]
    assert deploy["on"]["workflow_run"]["workflows"] == [load("image.yml")["name"]]
    script = scripts(deploy)
    assert "kustomize edit set image creativeops=" in script.replace('"', "")
    assert 'kubectl apply -k "$OVERLAY"' in script
    job = deploy["jobs"]["deploy"]
    assert job["env"]["OVERLAY"] == "deploy/k8s/overlays/example"
    assert "delete job creativeops-migrate" in script
    assert 'rm -f "$OVERLAY/secret.env"' in script
