"""The model artifact on disk: files, manifest with checksums, verification and atomic publication.

An artifact folder holds `model.safetensors`, `config.json`, `generation_config.json`, the tokenizer
files and `manifest.json`. The manifest records the SHA-256 of every other file, so the checksum of
the manifest alone (`sha256_of_directory`) pins the whole artifact.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import tokenizers
import torch
import transformers

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".h5", ".msgpack", ".onnx")


class ArtifactIntegrityError(Exception):
    """An artifact file is missing, changed, or unexpected; the message names the file."""


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _artifact_files(folder: Path) -> list[str]:
    return sorted(
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if path.is_file() and path.relative_to(folder).as_posix() != MANIFEST_NAME
    )


def library_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
    }


def save_model_files(
    folder: str | Path, model, tokenizer, *, eos_id: int, pad_id: int, max_new_tokens: int
) -> None:
    """Weights (safetensors), model and generation config, and tokenizer files into `folder`."""
    model.generation_config = transformers.GenerationConfig(
        eos_token_id=eos_id, pad_token_id=pad_id, max_new_tokens=max_new_tokens, do_sample=False
    )
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)


def build_manifest(folder: str | Path, **fields) -> dict:
    """Manifest for the files now in `folder`, with `fields` (preset, metrics, ...) merged in."""
    folder = Path(folder)
    return {
        "format_version": FORMAT_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "libraries": library_versions(),
        **fields,
        "files": {name: file_sha256(folder / name) for name in _artifact_files(folder)},
    }


def write_manifest(folder: str | Path, manifest: dict) -> None:
    path = Path(folder) / MANIFEST_NAME
    temporary = path.with_name(MANIFEST_NAME + ".partial")
    temporary.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(temporary, path)


def read_manifest(path: str | Path) -> dict:
    manifest_path = Path(path) / MANIFEST_NAME
    try:
        manifest = json.loads(manifest_path.read_text())
    except FileNotFoundError:
        raise ArtifactIntegrityError(f"{manifest_path}: manifest is missing")
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ArtifactIntegrityError(f"{manifest_path}: manifest is not valid JSON ({error})")
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise ArtifactIntegrityError(f"{manifest_path}: manifest has no file checksums")
    return manifest


def verify_artifact(path: str | Path) -> dict:
    """Check every file against the manifest; return the manifest or raise ArtifactIntegrityError."""
    folder = Path(path)
    if not folder.is_dir():
        raise ArtifactIntegrityError(f"{folder}: artifact folder does not exist")
    manifest = read_manifest(folder)
    for name, expected in sorted(manifest["files"].items()):
        file_path = folder / name
        if not file_path.is_file():
            raise ArtifactIntegrityError(f"{name}: file listed in the manifest is missing")
        if file_sha256(file_path) != expected:
            raise ArtifactIntegrityError(f"{name}: checksum differs from the manifest")
    for name in _artifact_files(folder):
        if name not in manifest["files"] and name.lower().endswith(WEIGHT_SUFFIXES):
            raise ArtifactIntegrityError(f"{name}: weights file not listed in the manifest")
    return manifest


def sha256_of_directory(path: str | Path) -> str:
    """Checksum of the artifact: the SHA-256 of its manifest, which pins every other file."""
    manifest_path = Path(path) / MANIFEST_NAME
    if not manifest_path.is_file():
        raise ArtifactIntegrityError(f"{manifest_path}: manifest is missing")
    return file_sha256(manifest_path)


def ensure_free(final_path: str | Path) -> None:
    """Refuse a path that already holds an artifact (or anything else but an empty folder)."""
    final_path = Path(final_path)
    if final_path.exists() and (not final_path.is_dir() or any(final_path.iterdir())):
        raise FileExistsError(
            f"{final_path}: an artifact already exists there; artifacts are never overwritten"
        )


@contextlib.contextmanager
def staged_directory(final_path: str | Path) -> Iterator[Path]:
    """A temporary sibling folder that becomes `final_path` with one rename when the block succeeds.

    A reader therefore sees either no artifact or a complete one; on an error (or a cancelled
    training) the partial folder is removed. Artifacts are immutable: an existing non-empty
    `final_path` is refused rather than replaced.
    """
    final_path = Path(final_path)
    ensure_free(final_path)
    final_path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final_path.name}.partial-", dir=final_path.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; serving processes must read the artifact
    try:
        yield staging
        if final_path.exists():
            final_path.rmdir()  # an empty placeholder folder
        os.replace(staging, final_path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
