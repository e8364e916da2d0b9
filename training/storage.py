"""Model artifact folders in artifact storage, through Django's storage API.

A model folder lives at `models/run-<id>/` in the default storage (MEDIA_ROOT on a laptop or a shared
volume). `TrainingRun.artifact_uri` (and `ModelVersion.artifact_uri`) hold that storage name, never
an absolute path, so the storage root can move without rewriting rows.

Training always happens in a *staging* folder that nobody else reads and is published with one
rename (`model_artifact_publish`), so a half-written model is never visible at its final name. On a
storage without local paths (an S3-compatible bucket) the folder is uploaded file by file after
training, and readers get a verified local copy through `artifact_local_path`.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, default_storage

from creativeops.core.errors import ApplicationError

logger = logging.getLogger(__name__)

MODELS_PREFIX = "models"
STAGING_PREFIX = f"{MODELS_PREFIX}/.staging"


def model_artifact_name(training_run_id: int) -> str:
    """The storage name of a training run's model folder."""
    return f"{MODELS_PREFIX}/run-{training_run_id}"


def _local_root(storage: Storage) -> Path | None:
    """The folder behind `storage` when it is on a local (or mounted shared) file system; None for
    object stores (S3-compatible buckets) and others whose files are not on a disk we can rename in."""
    return Path(storage.path("")) if isinstance(storage, FileSystemStorage) else None


def _checked_name(uri: str) -> str:
    """A relative storage name without `..`: a row's uri must never point outside artifact storage."""
    name = PurePosixPath(uri)
    if not uri or name.is_absolute() or ".." in name.parts:
        raise ApplicationError(f"Artifact path {uri!r} is not a relative path inside artifact storage.")
    return name.as_posix()


def staging_directory(training_run_id: int) -> Path:
    """A fresh, private local folder to train into, removed by the caller (see `staging_cleanup`).

    On local storage it sits under `models/.staging/` in the same file system as the final folder,
    so publication is one atomic rename.
    """
    parent = _staging_parent()
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"run-{training_run_id}-", dir=parent))


def _staging_parent() -> Path:
    root = _local_root(default_storage)
    return root / STAGING_PREFIX if root is not None else Path(tempfile.gettempdir()) / "creativeops-staging"


def staging_directories(training_run_id: int) -> list[Path]:
    """Staging folders of a run on this machine (a dead worker's are removed by the reaper)."""
    return sorted(_staging_parent().glob(f"run-{training_run_id}-*"))


def staging_cleanup(path: Path | None) -> None:
    if path is not None and path.exists():
        shutil.rmtree(path, ignore_errors=True)


def model_artifact_publish(*, local_dir: Path, training_run_id: int) -> str:
    """Make a complete model folder visible at `models/run-<id>` and return that storage name.

    Local storage: one `os.replace` of the staged folder (atomic on one file system). A folder left
    at the final name by an earlier attempt of the *same* run (its row never reached "succeeded",
    so nothing points at it) is moved aside and removed first. Remote storage: every file is
    uploaded; the row's artifact_uri, written only afterwards, is what makes the model visible.
    """
    name = model_artifact_name(training_run_id)
    root = _local_root(default_storage)
    if root is None:
        _upload_directory(default_storage, local_dir, name)
        return name
    final = root / name
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        leftover = final.with_name(f".{final.name}.leftover-{uuid.uuid4().hex[:8]}")
        os.replace(final, leftover)
        shutil.rmtree(leftover, ignore_errors=True)
        logger.warning("Replaced a leftover folder of an earlier attempt at %s", final)
    local_dir.chmod(0o755)  # mkdtemp makes it private; web and worker processes must read the model
    os.replace(local_dir, final)
    return name


def _upload_directory(storage: Storage, local_dir: Path, name: str) -> None:
    for path in sorted(local_dir.rglob("*")):
        if path.is_file():
            target = f"{name}/{path.relative_to(local_dir).as_posix()}"
            if storage.exists(target):
                storage.delete(target)
            with path.open("rb") as handle:
                saved = storage.save(target, File(handle))
            if saved != target:
                raise ApplicationError(
                    f"Artifact storage renamed {target} to {saved}; refusing a mixed folder."
                )


def artifact_exists(uri: str) -> bool:
    name = _checked_name(uri)
    root = _local_root(default_storage)
    if root is not None:
        return (root / name).is_dir()
    _directories, files = default_storage.listdir(name) if default_storage.exists(name) else ([], [])
    return bool(files or _directories)


def artifact_local_path(uri: str) -> Path:
    """A local folder holding the artifact stored at `uri` (a storage name like `models/run-3`).

    Local storage: the folder itself. Remote storage: a copy under DATA_DIR/artifact-cache, filled
    once (downloaded into a temporary sibling and renamed, so a crash never leaves half a copy).
    Callers that trust it (register, promote, roll back) go through `artifact_verify` instead.
    """
    name = _checked_name(uri)
    root = _local_root(default_storage)
    if root is not None:
        path = root / name
        if not path.is_dir():
            raise ApplicationError(
                f"Artifact {uri} is missing from artifact storage ({path}).", status_code=404
            )
        return path
    cache = Path(settings.DATA_DIR) / "artifact-cache" / name
    if cache.is_dir():
        return cache
    if not artifact_exists(name):
        raise ApplicationError(f"Artifact {uri} is missing from artifact storage.", status_code=404)
    cache.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{cache.name}.partial-", dir=cache.parent))
    try:
        _download_directory(default_storage, name, partial)
        os.replace(partial, cache)
    except FileExistsError:
        shutil.rmtree(partial, ignore_errors=True)  # another process finished the same copy first
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return cache


def artifact_verify(*, uri: str, sha256: str, owner: str, refused: str) -> Path:
    """The local folder of the artifact at `uri`, once proven to be the very one that was recorded.

    The one artifact check of the registry and the pipeline: every file against the manifest
    (`training.ml.artifact.verify_artifact`), then the manifest's checksum against `sha256` (what
    training recorded, and the registry copied). A refusal is an ApplicationError that names `owner`
    ("training run #3", "creative-generator v2") and ends with what did not happen because of it
    (`refused`: "was not promoted"). No database access, so any thread may call it.
    """
    from training.ml.artifact import ArtifactIntegrityError, sha256_of_directory, verify_artifact

    try:
        path = artifact_local_path(uri)
        verify_artifact(path)
        actual = sha256_of_directory(path)
    except ArtifactIntegrityError as error:
        raise ApplicationError(f"The artifact of {owner} failed verification ({error}); it {refused}.")
    except ApplicationError as error:
        raise ApplicationError(f"{error.message} {owner} {refused}.", status_code=error.status_code)
    if actual != sha256:
        raise ApplicationError(
            f"The artifact of {owner} changed after it was recorded: its checksum is {actual[:12]}…, "
            f"the recorded one is {sha256[:12]}…; it {refused}."
        )
    return path


def _download_directory(storage: Storage, name: str, target: Path) -> None:
    directories, files = storage.listdir(name)
    target.mkdir(parents=True, exist_ok=True)
    for file_name in files:
        with storage.open(f"{name}/{file_name}", "rb") as source, (target / file_name).open("wb") as sink:
            shutil.copyfileobj(source, sink)
    for directory in directories:
        _download_directory(storage, f"{name}/{directory}", target / directory)


def artifact_delete(uri: str) -> None:
    """Remove a model folder from artifact storage (retention); a missing folder is not an error."""
    name = _checked_name(uri)
    root = _local_root(default_storage)
    if root is not None:
        shutil.rmtree(root / name, ignore_errors=True)
        return
    if default_storage.exists(name):
        _delete_directory(default_storage, name)


def _delete_directory(storage: Storage, name: str) -> None:
    directories, files = storage.listdir(name)
    for file_name in files:
        storage.delete(f"{name}/{file_name}")
    for directory in directories:
        _delete_directory(storage, f"{name}/{directory}")


def storage_source(name: str) -> str:
    """A human-usable address of a stored file for lineage records (a file URI when local)."""
    root = _local_root(default_storage)
    return (root / name).as_uri() if root is not None else name
