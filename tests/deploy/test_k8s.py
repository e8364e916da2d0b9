"""Kubernetes manifests: rendered like `kubectl apply -k` would, validated against the Kubernetes schema
of a fixed version, and checked for what the deployment relies on."""

from __future__ import annotations

import base64
import fnmatch
import re
import shutil
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.deploy.helpers import DEPLOY, REPO, entrypoint_commands, find_tool, run
from tests.deploy.kustomize import (
    UnsupportedKustomization,
    identity,
    load_documents,
    pod_spec,
    render,
)

KUBERNETES_VERSION = "1.30.0"
K8S = DEPLOY / "k8s"
OVERLAY = Path("overlays") / "example"
WORKER_COMPONENTS = ("worker-training", "worker-default")


@pytest.fixture(scope="module")
def k8s_copy(tmp_path_factory) -> Path:
    """deploy/k8s copied aside, with the overlay's git-ignored secret.env made from its template."""
    root = tmp_path_factory.mktemp("k8s") / "k8s"
    shutil.copytree(K8S, root, ignore=shutil.ignore_patterns("secret.env"))
    overlay = root / OVERLAY
    (overlay / "secret.env").write_text((overlay / "secret.env.example").read_text(encoding="utf-8"))
    return root


@pytest.fixture(scope="module")
def base(k8s_copy) -> list[dict]:
    return render(k8s_copy / "base")


@pytest.fixture(scope="module")
def overlay(k8s_copy) -> list[dict]:
    return render(k8s_copy / OVERLAY)


@pytest.fixture(scope="module", params=["base", "overlay"])
def rendered(request) -> list[dict]:
    return request.getfixturevalue(request.param)


def find(objects: list[dict], kind: str, name: str) -> dict:
    matches = [obj for obj in objects if obj["kind"] == kind and obj["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def deployment_by_component(objects: list[dict], component: str) -> dict:
    (deployment,) = [
        obj
        for obj in objects
        if obj["kind"] == "Deployment"
        and obj["metadata"]["labels"].get("app.kubernetes.io/component") == component
    ]
    return deployment


def containers(spec: dict) -> list[dict]:
    return spec.get("initContainers", []) + spec["containers"]


def workloads(objects: list[dict]) -> list[dict]:
    return [obj for obj in objects if pod_spec(obj) is not None]


# --- rendering and schema ------------------------------------------------------------------------


def test_every_object_is_valid_for_the_kubernetes_version(rendered):
    errors = []
    for obj in rendered:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            errors.append(f"{identity(obj)} {'.'.join(map(str, error.path))}: {error.message}")
    assert errors == []


def test_the_validator_rejects_an_unknown_field(base):
    """The validation above can fail: strict mode rejects a misspelt field in a real Deployment."""
    broken = yaml.safe_load(yaml.safe_dump(find(base, "Deployment", "creativeops-web")))
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {"path": "/ready"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_renders_the_expected_objects(base, overlay):
    kinds = sorted({obj["kind"] for obj in base})
    assert kinds == [
        "ConfigMap",
        "Deployment",
        "HorizontalPodAutoscaler",
        "Ingress",
        "Job",
        "Namespace",
        "NetworkPolicy",
        "PersistentVolumeClaim",
        "PodDisruptionBudget",
        "Service",
        "ServiceAccount",
    ]
    assert not [obj for obj in base if obj["kind"] == "Secret"], "the base must not carry a Secret"
    assert [obj["kind"] for obj in overlay].count("Secret") == 1
    for obj in overlay:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "creativeops", identity(obj)


def test_renderer_matches_kubectl_kustomize(k8s_copy, base, overlay):
    """Our renderer gives exactly what kustomize gives (needs kubectl; CI machines have it)."""
    kubectl = find_tool("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the renderer is not cross-checked against kustomize")
    for directory, ours in ((k8s_copy / "base", base), (k8s_copy / OVERLAY, overlay)):
        result = run([kubectl, "kustomize", str(directory)])
        assert result.returncode == 0, result.stderr
        theirs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
        assert {identity(o): o for o in ours} == {identity(o): o for o in theirs}


def test_renderer_refuses_unsupported_features(tmp_path):
    (tmp_path / "kustomization.yaml").write_text("resources: []\ncommonLabels:\n  team: x\n")
    with pytest.raises(UnsupportedKustomization, match="commonLabels"):
        render(tmp_path)


# --- workloads -----------------------------------------------------------------------------------


def test_beat_is_a_single_replica_recreated(rendered):
    beat = deployment_by_component(rendered, "beat")
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"]["type"] == "Recreate"
    assert pod_spec(beat)["containers"][0]["args"] == ["beat"]
    autoscaled = {
        obj["spec"]["scaleTargetRef"]["name"] for obj in rendered if obj["kind"] == "HorizontalPodAutoscaler"
    }
    assert beat["metadata"]["name"] not in autoscaled


def test_web_probes(rendered):
    web = pod_spec(find(rendered, "Deployment", "creativeops-web"))
    (container,) = [c for c in web["containers"] if c["name"] == "web"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["startupProbe"]["httpGet"]["path"] == "/health"
    assert container["args"] == ["web"]


def test_web_is_scaled_by_the_hpa_only(rendered):
    web = find(rendered, "Deployment", "creativeops-web")
    assert "replicas" not in web["spec"], "the HPA owns web's replica count"
    hpa = find(rendered, "HorizontalPodAutoscaler", "creativeops-web")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "creativeops-web",
    }
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


def test_every_container_has_resources(rendered):
    for workload in workloads(rendered):
        for container in containers(pod_spec(workload)):
            resources = container.get("resources", {})
            where = f"{workload['metadata']['name']}/{container['name']}"
            assert {"cpu", "memory"} <= set(resources.get("requests", {})), where
            assert "memory" in resources.get("limits", {}), where


def test_pods_run_non_root_on_a_read_only_root(rendered):
    for workload in workloads(rendered):
        spec = pod_spec(workload)
        assert spec["securityContext"]["runAsNonRoot"] is True, workload["metadata"]["name"]
        assert spec["securityContext"]["runAsUser"] != 0
        assert spec["automountServiceAccountToken"] is False
        for container in containers(spec):
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, container["name"]
            assert context["allowPrivilegeEscalation"] is False, container["name"]
            assert context["capabilities"]["drop"] == ["ALL"], container["name"]
            mounts = {mount["mountPath"] for mount in container.get("volumeMounts", [])}
            assert "/tmp" in mounts, f"{container['name']} needs a writable /tmp"


def test_prometheus_multiproc_dir_is_a_memory_emptydir(rendered):
    web = pod_spec(find(rendered, "Deployment", "creativeops-web"))
    (container,) = [c for c in web["containers"] if c["name"] == "web"]
    env = {var["name"]: var.get("value") for var in container["env"]}
    directory = env["PROMETHEUS_MULTIPROC_DIR"]
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == directory]
    (volume,) = [v for v in web["volumes"] if v["name"] == mount["name"]]
    assert volume["emptyDir"]["medium"] == "Memory"


def test_env_references_resolve(rendered):
    """$(VAR) in an env value must name a variable of the ConfigMap or an earlier env entry."""
    config = find(rendered, "ConfigMap", "creativeops-config")["data"]
    for workload in workloads(rendered):
        for container in containers(pod_spec(workload)):
            defined = set(config) if any("configMapRef" in s for s in container.get("envFrom", [])) else set()
            for variable in container.get("env", []):
                for reference in re.findall(r"\$\((\w+)\)", variable.get("value", "")):
                    assert reference in defined, f"{container['name']}: $({reference}) is undefined"
                defined.add(variable["name"])


def test_container_commands_are_entrypoint_subcommands(rendered):
    known = entrypoint_commands()
    for workload in workloads(rendered):
        for container in containers(pod_spec(workload)):
            assert "command" not in container, "the image's ENTRYPOINT must not be replaced"
            assert container["args"][0] in known, container["args"]


def test_workers_one_per_queue_with_grace_for_a_training_step(rendered):
    training = deployment_by_component(rendered, "worker-training")
    default = deployment_by_component(rendered, "worker-default")
    assert pod_spec(training)["containers"][0]["args"] == ["worker-training"]
    assert pod_spec(default)["containers"][0]["args"] == ["worker-default"]
    assert pod_spec(training)["terminationGracePeriodSeconds"] >= 600
    assert pod_spec(default)["terminationGracePeriodSeconds"] > 30


def test_migrate_job_and_init_gates(rendered):
    job = find(rendered, "Job", "creativeops-migrate")
    assert pod_spec(job)["containers"][0]["args"] == ["migrate"]
    assert pod_spec(job)["restartPolicy"] == "Never"
    for component in ("web", *WORKER_COMPONENTS, "beat"):
        init = pod_spec(deployment_by_component(rendered, component))["initContainers"]
        assert [c["args"] for c in init] == [["wait-for-migrations"]], component


# --- storage, network, exposure -----------------------------------------------------------------


def test_shared_artifacts_are_read_write_many_on_data(rendered):
    pvc = find(rendered, "PersistentVolumeClaim", "creativeops-data")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    for component in ("web", *WORKER_COMPONENTS):
        spec = pod_spec(deployment_by_component(rendered, component))
        volumes = {
            v["name"]
            for v in spec["volumes"]
            if v.get("persistentVolumeClaim", {}).get("claimName") == "creativeops-data"
        }
        mounts = [m for c in spec["containers"] for m in c["volumeMounts"] if m["name"] in volumes]
        assert [m["mountPath"] for m in mounts] == ["/data"], component


def test_services_and_ingress_reach_pods(rendered):
    templates = [
        pod_spec(obj) and obj["spec"]["template"]["metadata"]["labels"] for obj in workloads(rendered)
    ]
    services = {obj["metadata"]["name"]: obj for obj in rendered if obj["kind"] == "Service"}
    for name, service in services.items():
        selector = service["spec"]["selector"].items()
        assert any(selector <= labels.items() for labels in templates), f"Service {name} selects no pod"
    ingress = find(rendered, "Ingress", "creativeops")
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            ports = {port["name"] for port in services[backend["name"]]["spec"]["ports"]}
            assert backend["port"]["name"] in ports
    pdb = find(rendered, "PodDisruptionBudget", "creativeops-web")
    web_labels = find(rendered, "Deployment", "creativeops-web")["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= web_labels.items()


def test_network_policies(rendered):
    policies = {obj["metadata"]["name"]: obj for obj in rendered if obj["kind"] == "NetworkPolicy"}
    assert policies["default-deny-ingress"]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    web = policies["creativeops-web-ingress"]["spec"]
    sources = [
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for peer in web["ingress"][0]["from"]
    ]
    assert sources == ["ingress-nginx", "monitoring"]
    egress_ports = {
        port["port"] for rule in policies["creativeops-egress"]["spec"]["egress"] for port in rule["ports"]
    }
    assert {53, 5432, 6379, 5000} <= egress_ports


def test_mlflow_deployment_and_service(rendered):
    mlflow = find(rendered, "Deployment", "mlflow")
    assert pod_spec(mlflow)["containers"][0]["args"] == ["mlflow"]
    assert find(rendered, "Service", "mlflow")["spec"]["ports"][0]["port"] == 5000
    config = find(rendered, "ConfigMap", "creativeops-config")["data"]
    assert config["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    # Artifacts proxied by the server (its volume), not written to /data where its pod cannot see them.
    assert config["MLFLOW_ARTIFACT_ROOT"].startswith("mlflow-artifacts:/")


def test_web_pods_are_annotated_for_scraping(rendered):
    annotations = find(rendered, "Deployment", "creativeops-web")["spec"]["template"]["metadata"][
        "annotations"
    ]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    headless = find(rendered, "Service", "creativeops-web-headless")
    assert headless["spec"]["clusterIP"] == "None"
    scrape = (DEPLOY / "prometheus" / "prometheus-k8s.yml").read_text(encoding="utf-8")
    assert "creativeops-web-headless.creativeops.svc" in scrape


# --- secrets and the overlay ---------------------------------------------------------------------


def test_no_secret_is_committed():
    for path in K8S.rglob("*.yaml"):
        for doc in load_documents(path):
            kind = doc.get("kind") if isinstance(doc, dict) else None  # JSON6902 patches are lists
            assert kind != "Secret", f"{path} holds a Secret: generate it from secret.env instead"
    ignored = (REPO / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert any(fnmatch.fnmatch("deploy/k8s/overlays/example/secret.env", pattern) for pattern in ignored)


def test_secret_template_holds_placeholders_only(overlay):
    (secret,) = [obj for obj in overlay if obj["kind"] == "Secret"]
    values = {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}
    assert set(values) == {
        "SECRET_KEY",
        "DATABASE_URL",
        "CELERY_BROKER_URL",
        "REDIS_URL",
        "MLFLOW_BACKEND_STORE_URI",
    }
    assert values.pop("SECRET_KEY") == "", (
        "SECRET_KEY must be empty in the template (the app then refuses to start)"
    )
    for key, value in values.items():
        assert "CHANGE_ME" in value, f"{key} in secret.env.example must be a placeholder"


def test_secret_references_point_at_the_generated_secret(overlay):
    (secret,) = [obj for obj in overlay if obj["kind"] == "Secret"]
    assert re.fullmatch(r"creativeops-secrets-[a-z0-9]{10}", secret["metadata"]["name"])
    for workload in workloads(overlay):
        for container in containers(pod_spec(workload)):
            names = [s["secretRef"]["name"] for s in container.get("envFrom", []) if "secretRef" in s]
            names += [
                v["valueFrom"]["secretKeyRef"]["name"]
                for v in container.get("env", [])
                if "secretKeyRef" in v.get("valueFrom", {})
            ]
            assert names and set(names) == {secret["metadata"]["name"]}, container["name"]


def test_overlay_sets_image_replicas_host_and_resources(base, overlay):
    for workload in workloads(overlay):
        for container in containers(pod_spec(workload)):
            image = container["image"]
            assert re.fullmatch(r"ghcr\.io/[\w.-]+/creativeops:[\w.-]+", image), image
            assert not image.endswith(":latest")
    assert deployment_by_component(overlay, "worker-default")["spec"]["replicas"] == 2
    ingress = find(overlay, "Ingress", "creativeops")
    host = ingress["spec"]["rules"][0]["host"]
    assert host != "creativeops.example.com"
    assert ingress["spec"]["tls"][0]["hosts"] == [host]
    assert find(overlay, "ConfigMap", "creativeops-config")["data"]["CREATIVEOPS_PUBLIC_HOST"] == host
    base_web = pod_spec(find(base, "Deployment", "creativeops-web"))["containers"][0]["resources"]
    overlay_web = pod_spec(find(overlay, "Deployment", "creativeops-web"))["containers"][0]["resources"]
    assert overlay_web != base_web
    assert find(overlay, "PersistentVolumeClaim", "creativeops-data")["spec"].get("storageClassName")
