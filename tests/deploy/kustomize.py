"""A small kustomize renderer, so the deploy tests need no kustomize binary.

It implements the subset of kustomize that deploy/k8s uses, with kustomize's semantics:

- ``resources``: files (multi-document YAML) and directories holding a kustomization.yaml;
- ``namespace``: set on every namespaced object; a Namespace object is renamed to it;
- ``secretGenerator`` with ``envs`` and/or ``literals`` (behavior create), with kustomize's content-hash
  name suffix, and references to the generated Secret in pod specs and Ingress TLS rewritten to it;
- ``patches`` from a ``path``: a strategic-merge patch (target taken from the patch's kind and name, or from
  ``target``), or a JSON6902 list of operations (add, replace, remove, test) with a ``target``;
- ``images`` (newName, newTag, digest) on containers and initContainers;
- ``replicas`` on Deployments, StatefulSets and ReplicaSets.

Anything else in a kustomization.yaml raises UnsupportedKustomization, so a feature added to the manifests
without support here fails the tests instead of being silently ignored. Strategic merge knows the merge keys
of the list fields the overlays patch (containers, initContainers, env, volumes by name; volumeMounts by
mountPath; ports by containerPort or port); other lists are replaced, as in Kubernetes for lists without a
merge key. Patch directives ($patch, $setElementOrder, ...) are not supported.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import yaml

SUPPORTED_KEYS = {
    "apiVersion",
    "kind",
    "namespace",
    "resources",
    "secretGenerator",
    "patches",
    "images",
    "replicas",
}
CLUSTER_SCOPED_KINDS = {
    "Namespace",
    "PersistentVolume",
    "StorageClass",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PriorityClass",
    "IngressClass",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
    "APIService",
}
LIST_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "imagePullSecrets": "name",
    "volumeMounts": "mountPath",
}
SCALABLE_KINDS = {"Deployment", "StatefulSet", "ReplicaSet"}

Manifest = dict[str, Any]


class UnsupportedKustomization(Exception):
    """The kustomization uses a feature this renderer does not implement."""


def render(directory: Path) -> list[Manifest]:
    """Render the kustomization in ``directory`` like ``kustomize build`` (order aside)."""
    directory = Path(directory)
    kustomization = _load_kustomization(directory)

    objects: list[Manifest] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        objects.extend(render(path) if path.is_dir() else load_documents(path))

    generated_names: dict[str, str] = {}
    for generator in kustomization.get("secretGenerator", []):
        secret = _generate_secret(directory, generator)
        generated_names[generator["name"]] = secret["metadata"]["name"]
        objects.append(secret)

    namespace = kustomization.get("namespace")
    if namespace:
        for obj in objects:
            _set_namespace(obj, namespace)

    for patch in kustomization.get("patches", []):
        _apply_patch(directory, patch, objects)

    for image in kustomization.get("images", []):
        for obj in objects:
            _set_image(obj, image)

    for replica in kustomization.get("replicas", []):
        matched = [o for o in objects if o["kind"] in SCALABLE_KINDS and _name(o) == replica["name"]]
        if not matched:
            raise UnsupportedKustomization(f"replicas: no workload named {replica['name']!r}")
        for obj in matched:
            obj["spec"]["replicas"] = replica["count"]

    for original, hashed in generated_names.items():
        for obj in objects:
            _rename_secret_references(obj, original, hashed)

    _check_unique(objects)
    return objects


def load_documents(path: Path) -> list[Manifest]:
    with open(path, encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


def identity(obj: Manifest) -> tuple[str, str, str, str]:
    """(apiVersion group, kind, namespace, name): the key kustomize uses for a resource."""
    group = obj["apiVersion"].rpartition("/")[0]
    return group, obj["kind"], obj["metadata"].get("namespace", ""), _name(obj)


def pod_spec(obj: Manifest) -> Manifest | None:
    """The pod spec of a workload object, or None for anything that runs no pods."""
    kind = obj["kind"]
    if kind == "Pod":
        return obj["spec"]
    if kind == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    if kind in SCALABLE_KINDS | {"DaemonSet", "Job"}:
        return obj["spec"]["template"]["spec"]
    return None


def _load_kustomization(directory: Path) -> Manifest:
    path = directory / "kustomization.yaml"
    if not path.is_file():
        raise UnsupportedKustomization(f"{directory} has no kustomization.yaml")
    kustomization = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    unsupported = set(kustomization) - SUPPORTED_KEYS
    if unsupported:
        raise UnsupportedKustomization(f"{path}: unsupported keys {sorted(unsupported)}")
    return kustomization


def _name(obj: Manifest) -> str:
    return obj["metadata"]["name"]


def _set_namespace(obj: Manifest, namespace: str) -> None:
    if obj["kind"] == "Namespace":
        obj["metadata"]["name"] = namespace
    elif obj["kind"] not in CLUSTER_SCOPED_KINDS:
        obj["metadata"]["namespace"] = namespace


def _check_unique(objects: list[Manifest]) -> None:
    seen: set[tuple[str, str, str, str]] = set()
    for obj in objects:
        key = identity(obj)
        if key in seen:
            raise UnsupportedKustomization(f"duplicate resource {key}")
        seen.add(key)


# --- secretGenerator ------------------------------------------------------------------------------


def _generate_secret(directory: Path, generator: Manifest) -> Manifest:
    unsupported = set(generator) - {"name", "envs", "literals", "type"}
    if unsupported:
        raise UnsupportedKustomization(f"secretGenerator: unsupported options {sorted(unsupported)}")
    pairs: list[str] = []
    for env_file in generator.get("envs", []):
        pairs.extend(_env_file_lines(directory / env_file))
    pairs.extend(generator.get("literals", []))
    data: dict[str, str] = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator:
            raise UnsupportedKustomization(f"secretGenerator {generator['name']}: {pair!r} is not KEY=VALUE")
        data[key] = _kustomize_base64(value)
    secret_type = generator.get("type", "Opaque")
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": generator["name"]},
        "type": secret_type,
        "data": data,
    }
    secret["metadata"]["name"] = f"{generator['name']}-{secret_hash(secret)}"
    return secret


def _kustomize_base64(value: str) -> str:
    """Base64 as kustomize writes it into a generated Secret: split into 70-character lines, each ended by
    a newline, once the encoding is 70 characters or longer (the hash is computed over this text)."""
    encoded = base64.b64encode(value.encode()).decode()
    line_length = 70
    if len(encoded) // line_length + 1 == 1:
        return encoded
    return "".join(encoded[i : i + line_length] + "\n" for i in range(0, len(encoded), line_length))


def _env_file_lines(path: Path) -> list[str]:
    lines = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def secret_hash(secret: Manifest) -> str:
    """kustomize's name suffix for a generated Secret: sha256 of a JSON encoding of kind, type, name and
    data, its first 10 hex characters with 0, 1, 3, a, e swapped for letters (never all digits).

    kustomize 5 looks the name up with a path its lookup does not split, so the name enters the hash as
    "" (checked against `kubectl kustomize` 5.5 by tests/deploy/test_k8s.py); the same is done here.
    """
    encoded = json.dumps(
        {
            "data": secret.get("data", {}),
            "kind": "Secret",
            "name": "",
            "type": secret.get("type", "Opaque"),
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    digest = hashlib.sha256(encoded.encode()).hexdigest()[:10]
    return digest.translate(str.maketrans({"0": "g", "1": "h", "3": "k", "a": "m", "e": "t"}))


def _rename_secret_references(obj: Manifest, original: str, hashed: str) -> None:
    def rename(holder: Manifest, key: str) -> None:
        if holder.get(key) == original:
            holder[key] = hashed

    spec = pod_spec(obj)
    if spec is not None:
        for container in spec.get("initContainers", []) + spec.get("containers", []):
            for source in container.get("envFrom", []):
                if "secretRef" in source:
                    rename(source["secretRef"], "name")
            for variable in container.get("env", []):
                reference = variable.get("valueFrom", {}).get("secretKeyRef")
                if reference:
                    rename(reference, "name")
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                rename(volume["secret"], "secretName")
            for source in volume.get("projected", {}).get("sources", []):
                if "secret" in source:
                    rename(source["secret"], "name")
        for pull_secret in spec.get("imagePullSecrets", []):
            rename(pull_secret, "name")
    if obj["kind"] == "Ingress":
        for tls in obj["spec"].get("tls", []):
            rename(tls, "secretName")


# --- patches --------------------------------------------------------------------------------------


def _apply_patch(directory: Path, entry: Manifest, objects: list[Manifest]) -> None:
    unsupported = set(entry) - {"path", "target"}
    if unsupported or "path" not in entry:
        raise UnsupportedKustomization(f"patches: only 'path' (+ 'target') is supported, got {sorted(entry)}")
    patch = yaml.safe_load((directory / entry["path"]).read_text(encoding="utf-8"))
    target = entry.get("target")
    if isinstance(patch, list):
        if target is None:
            raise UnsupportedKustomization(f"{entry['path']}: a JSON6902 patch needs a target")
        targets = _select(objects, target)
        for obj in targets:
            _json6902(obj, patch)
        return
    _reject_directives(patch, entry["path"])
    if target is None:
        target = {"kind": patch["kind"], "name": patch["metadata"]["name"]}
        if "namespace" in patch["metadata"]:
            target["namespace"] = patch["metadata"]["namespace"]
    for obj in _select(objects, target):
        body = copy.deepcopy(patch)
        body.pop("apiVersion", None)
        body.pop("kind", None)
        body["metadata"] = {
            k: v for k, v in body.get("metadata", {}).items() if k not in ("name", "namespace")
        }
        _strategic_merge(obj, body)


def _select(objects: list[Manifest], target: Manifest) -> list[Manifest]:
    unsupported = set(target) - {"group", "version", "kind", "name", "namespace"}
    if unsupported:
        raise UnsupportedKustomization(f"patch target: unsupported selectors {sorted(unsupported)}")
    matched = []
    for obj in objects:
        group, _, version = obj["apiVersion"].rpartition("/")
        if "group" in target and target["group"] != group:
            continue
        if "version" in target and target["version"] != version:
            continue
        if "kind" in target and target["kind"] != obj["kind"]:
            continue
        if "name" in target and not re.fullmatch(target["name"], _name(obj)):
            continue
        if "namespace" in target and target["namespace"] != obj["metadata"].get("namespace"):
            continue
        matched.append(obj)
    if not matched:
        raise UnsupportedKustomization(f"patch target {target} matches no resource")
    return matched


def _reject_directives(value: Any, where: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key.startswith("$"):
                raise UnsupportedKustomization(f"{where}: patch directive {key} is not supported")
            _reject_directives(item, where)
    elif isinstance(value, list):
        for item in value:
            _reject_directives(item, where)


def _strategic_merge(target: Manifest, patch: Manifest) -> None:
    for key, value in patch.items():
        current = target.get(key)
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(current, dict):
            _strategic_merge(current, value)
        elif isinstance(value, list) and isinstance(current, list) and _merge_key(key, value + current):
            _merge_lists(current, value, _merge_key(key, value + current))
        else:
            target[key] = copy.deepcopy(value)


def _merge_key(field: str, items: list[Any]) -> str | None:
    if not items or not all(isinstance(item, dict) for item in items):
        return None
    if field == "ports":
        return "containerPort" if all("containerPort" in item for item in items) else "port"
    return LIST_MERGE_KEYS.get(field)


def _merge_lists(current: list[Manifest], patch: list[Manifest], key: str) -> None:
    for item in patch:
        existing = next((c for c in current if c.get(key) == item.get(key)), None)
        if existing is None:
            current.append(copy.deepcopy(item))
        else:
            _strategic_merge(existing, item)


def _json6902(obj: Manifest, operations: list[Manifest]) -> None:
    for operation in operations:
        op, path = operation["op"], operation["path"]
        if op not in {"add", "replace", "remove", "test"}:
            raise UnsupportedKustomization(f"JSON6902 op {op!r} is not supported")
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]
        holder: Any = obj
        for part in parents:
            holder = holder[int(part)] if isinstance(holder, list) else holder[part]
        if isinstance(holder, list):
            index = len(holder) if last == "-" else int(last)
            if op == "add":
                holder.insert(index, copy.deepcopy(operation["value"]))
            elif op == "replace":
                holder[index] = copy.deepcopy(operation["value"])
            elif op == "remove":
                del holder[index]
            elif holder[index] != operation["value"]:
                raise AssertionError(f"JSON6902 test failed at {path}")
        else:
            if op in {"replace", "remove", "test"} and last not in holder:
                raise UnsupportedKustomization(f"JSON6902 {op} of missing path {path}")
            if op in {"add", "replace"}:
                holder[last] = copy.deepcopy(operation["value"])
            elif op == "remove":
                del holder[last]
            elif holder[last] != operation["value"]:
                raise AssertionError(f"JSON6902 test failed at {path}")


# --- images ---------------------------------------------------------------------------------------


def _set_image(obj: Manifest, image: Manifest) -> None:
    unsupported = set(image) - {"name", "newName", "newTag", "digest"}
    if unsupported:
        raise UnsupportedKustomization(f"images: unsupported keys {sorted(unsupported)}")
    spec = pod_spec(obj)
    if spec is None:
        return
    for container in spec.get("initContainers", []) + spec.get("containers", []):
        name, tag_or_digest = _split_image(container["image"])
        if name != image["name"]:
            continue
        new = image.get("newName", name)
        if "digest" in image:
            new += "@" + image["digest"]
        elif "newTag" in image:
            new += ":" + str(image["newTag"])
        else:
            new += tag_or_digest
        container["image"] = new


def _split_image(reference: str) -> tuple[str, str]:
    """('registry/name', ':tag' or '@digest' or '')."""
    if "@" in reference:
        name, _, digest = reference.partition("@")
        return name, "@" + digest
    slash = reference.rfind("/")
    colon = reference.rfind(":")
    if colon > slash:
        return reference[:colon], reference[colon:]
    return reference, ""
