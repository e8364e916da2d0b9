"""deploy/docker-compose.yml: valid Compose, one beat, migrate first, no secret in the file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.deploy.helpers import DEPLOY, REPO, entrypoint_commands

COMPOSE_FILE = DEPLOY / "docker-compose.yml"
SCHEMA_FILE = Path(__file__).parent / "schemas" / "compose-spec.json"
APP_COMMANDS = {"web", "worker-training", "worker-default", "beat"}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY$|CREDENTIAL")
URL_WITH_PASSWORD = re.compile(r"://[^/@\s]*:[^/@\s]*@")
REQUIRED_VARIABLE = re.compile(r"\$\{(\w+):\?[^}]*\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def command_of(service: dict) -> str | None:
    command = service.get("command")
    return command[0] if isinstance(command, list) and command else command


def test_validates_against_the_compose_spec(compose):
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(compose)]
    assert errors == []


def test_the_schema_rejects_a_broken_file():
    """The validation above can fail: an unknown service key is an error under the same schema."""
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    broken = {"services": {"web": {"image": "x", "replica": 2}}}
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(broken))


def test_exactly_one_beat(services):
    beats = [name for name, service in services.items() if command_of(service) == "beat"]
    assert beats == ["beat"]
    assert services["beat"].get("deploy", {}).get("replicas", 1) == 1


def test_migrate_is_one_shot_and_gates_the_app(services):
    migrate = services["migrate"]
    assert command_of(migrate) == "migrate"
    assert migrate.get("restart") == "no"
    app_services = [name for name, service in services.items() if command_of(service) in APP_COMMANDS]
    assert {"web", "worker-training", "worker-default", "beat"} <= set(app_services)
    for name in app_services:
        condition = services[name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully", name


def test_commands_are_entrypoint_subcommands(services):
    known = entrypoint_commands()
    for name, service in services.items():
        if service.get("image", "").startswith("${CREATIVEOPS_IMAGE"):
            assert command_of(service) in known, f"{name}: {service.get('command')}"


def test_web_has_a_health_check_on_health(services):
    web = services["web"]
    assert command_of(web) == "web"
    assert "/health" in " ".join(web["healthcheck"]["test"])
    assert web["environment"]["PROMETHEUS_MULTIPROC_DIR"]


def test_no_literal_secret(services):
    for name, service in services.items():
        environment = service.get("environment", {})
        assert isinstance(environment, dict), f"{name}: use a mapping for environment"
        for key, value in environment.items():
            value = str(value)
            if SECRET_NAME.search(key) or URL_WITH_PASSWORD.search(value):
                assert REQUIRED_VARIABLE.search(value), (
                    f"{name}.{key} must come from deploy/.env via ${{VAR:?}}"
                )
                literal = REQUIRED_VARIABLE.sub("", value)
                assert not SECRET_NAME.search(key) or literal == "", f"{name}.{key} has a literal part"


def strings_in(value) -> list[str]:
    if isinstance(value, dict):
        return [s for item in value.values() for s in strings_in(item)]
    if isinstance(value, list):
        return [s for item in value for s in strings_in(item)]
    return [value] if isinstance(value, str) else []


def test_env_example_lists_every_required_variable_with_placeholders(compose):
    required = {name for text in strings_in(compose) for name in REQUIRED_VARIABLE.findall(text)}
    assert {"POSTGRES_PASSWORD", "SECRET_KEY"} <= required
    example = {}
    for line in (DEPLOY / ".env.example").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            example[key] = value
    assert required <= set(example), f"missing from deploy/.env.example: {sorted(required - set(example))}"
    for key in required:
        if SECRET_NAME.search(key):
            # Empty, so that compose's ${VAR:?} refuses to start until a real value is set.
            assert example[key] == "", f"{key} in .env.example must be left empty"
    ignored = (REPO / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert ".env" in ignored, "deploy/.env must be git-ignored"


def test_shared_artifacts_volume_for_web_and_workers(compose, services):
    for name in ("web", "worker-training", "worker-default"):
        assert "creativeops-data:/data" in services[name]["volumes"], name
    assert "creativeops-data" in compose["volumes"]


def test_mlflow_uses_its_own_database_and_an_artifact_volume(services):
    mlflow = services["mlflow"]
    assert command_of(mlflow) == "mlflow"
    uri = mlflow["environment"]["MLFLOW_BACKEND_STORE_URI"]
    assert uri.startswith("postgresql+psycopg://") and uri.endswith("@postgres:5432/mlflow")
    assert any(volume.endswith(":/mlflow-artifacts") for volume in mlflow["volumes"])
    assert services["worker-training"]["environment"]["MLFLOW_ARTIFACT_ROOT"].startswith("mlflow-artifacts:/")
    init_mount = next(v for v in services["postgres"]["volumes"] if "docker-entrypoint-initdb.d" in v)
    init_dir = DEPLOY / init_mount.split(":")[0]
    scripts = " ".join(p.read_text(encoding="utf-8") for p in sorted(init_dir.glob("*.sql")))
    assert re.search(r"CREATE DATABASE mlflow\b", scripts)


def test_monitoring_mounts_repository_config(services):
    prometheus_volumes = services["prometheus"]["volumes"]
    assert "./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prometheus_volumes
    assert "./prometheus/rules:/etc/prometheus/rules:ro" in prometheus_volumes
    grafana_volumes = services["grafana"]["volumes"]
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in grafana_volumes
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/creativeops.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    assert f"./grafana/dashboards:{path}:ro" in grafana_volumes
    for volume in prometheus_volumes + grafana_volumes:
        source = volume.split(":")[0]
        if source.startswith("./"):
            assert (DEPLOY / source).exists(), f"mounted path {source} does not exist"
