"""The production model inside one process: first load, promotion checks, hot swap, failure back-off.

Every web (and worker) process holds its own copy of the production model. A request asks
`ModelManager.for_name().get()` for the model to generate with; the answer is a `LoadedModel`, an
immutable bundle of the generator and the version it came from. At most every
`MODEL_CHECK_INTERVAL_SECONDS` one request looks at the registry's version key (a cache read, no
database query while nothing changes). When the key moved, the new version is loaded *beside* the
old one in a background thread, its checksums verified, and then one reference is replaced: requests
in flight keep the `LoadedModel` they were handed and finish on the old model, the next ones get the
new one, and the old one is freed when the last request lets go of it.

A version that fails to load (a missing folder, a changed file, a checksum that differs from the
registry's) is logged, counted (`creativeops_model_loads_total{result="failure"}`) and shown by
`/ready`, while the old version keeps serving. It is not retried until the registry's key changes
again (a new promotion or a rollback), so a broken artifact costs one attempt, not one per request.
Only a process that has no model at all retries the same version, every `FAILURE_RETRY_SECONDS`,
since it cannot serve anything else (shared storage still mounting at start-up, for instance).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from django.conf import settings
from django.utils import timezone

from creativeops.core.errors import ApplicationError
from inference import metrics

logger = logging.getLogger(__name__)

NO_PRODUCTION_MODEL = (
    "No model is in production yet: train one and promote it "
    "(manage.py run_pipeline, then promote in the admin)."
)
FAILURE_RETRY_SECONDS = 30.0


@dataclass(frozen=True)
class LoadedModel:
    """One loaded version: what a request generates with, kept alive by the requests that hold it."""

    name: str
    version_id: int
    version: int
    sha256: str
    artifact_uri: str
    generator: object  # training.ml.CreativeGenerator (imported lazily: torch stays out of import time)
    loaded_at: datetime
    load_seconds: float

    def describe(self) -> dict:
        return {
            "version": self.version,
            "artifact_sha256": self.sha256,
            "loaded_at": self.loaded_at,
            "load_seconds": round(self.load_seconds, 3),
            "preset": self.generator.preset,
            "parameter_count": self.generator.parameter_count,
        }


@dataclass(frozen=True)
class LoadFailure:
    version_id: int
    version: int
    message: str
    at: datetime
    retry_after: float = field(default=0.0, compare=False)  # time.monotonic() of the next attempt

    def describe(self) -> str:
        return f"model v{self.version} failed to load at {self.at:%Y-%m-%d %H:%M:%S} UTC: {self.message}"


@dataclass(frozen=True)
class _Target:
    """A production version to load, read from the database by the request thread."""

    version_id: int
    version: int
    artifact_uri: str
    artifact_sha256: str


def _target_from_key(key: dict) -> _Target | None:
    try:
        return _Target(int(key["id"]), int(key["version"]), str(key["artifact_uri"]), str(key["sha"]))
    except (KeyError, TypeError, ValueError):
        return None


_torch_lock = threading.Lock()
_torch_configured = False


def _configure_torch_once() -> None:
    """Bound torch's intra-op threads on the first load in this process, never at import.

    Importing torch (and starting its thread pool) in gunicorn's master before the fork would leave
    every worker with a pool whose threads do not exist; here it happens in the worker, lazily.
    """
    global _torch_configured
    with _torch_lock:
        if _torch_configured:
            return
        threads = int(settings.CREATIVEOPS["TORCH_NUM_THREADS"])
        if threads > 0:
            import torch

            torch.set_num_threads(threads)
        _torch_configured = True


def load_error_message(error: Exception) -> str:
    """What to say of a failed load: an ApplicationError's sentence, else the exception's type and text."""
    return error.message if isinstance(error, ApplicationError) else f"{type(error).__name__}: {error}"


def load_model_version(*, name: str, target: _Target) -> LoadedModel:
    """Verify and load one version's artifact (no database access: runs in a background thread).

    The directory checksum is compared with the registry's before anything is deserialised, then
    `CreativeGenerator.load` checks every file against the manifest.
    """
    from training.ml import CreativeGenerator, sha256_of_directory
    from training.storage import artifact_local_path

    _configure_torch_once()
    started = time.perf_counter()
    path = artifact_local_path(target.artifact_uri)
    actual = sha256_of_directory(path)
    if actual != target.artifact_sha256:
        raise ApplicationError(
            f"artifact {target.artifact_uri} has checksum {actual[:12]}…, the registry recorded "
            f"{target.artifact_sha256[:12]}…; refusing to serve it."
        )
    batch_threads = int(settings.CREATIVEOPS["BATCH_TORCH_THREADS"])
    generator = CreativeGenerator.load(path, device="cpu", batch_threads=batch_threads or None)
    return LoadedModel(
        name=name,
        version_id=target.version_id,
        version=target.version,
        sha256=actual,
        artifact_uri=target.artifact_uri,
        generator=generator,
        loaded_at=timezone.now(),
        load_seconds=time.perf_counter() - started,
    )


class ModelManager:
    """The per-process holder of one registered model name's production version (a singleton per name)."""

    _managers: ClassVar[dict[str, ModelManager]] = {}
    _managers_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, name: str):
        self.name = name
        self._loaded: LoadedModel | None = None
        self._failure: LoadFailure | None = None
        self._settled_key: dict | None = None  # the registry key whose version is loaded or has failed
        self._next_check = 0.0
        self._check_lock = threading.Lock()
        self._swap_thread: threading.Thread | None = None

    # --- instances -----------------------------------------------------------------------------
    @classmethod
    def for_name(cls, name: str | None = None) -> ModelManager:
        name = name or settings.CREATIVEOPS["DEFAULT_MODEL_NAME"]
        manager = cls._managers.get(name)
        if manager is None:
            with cls._managers_lock:
                manager = cls._managers.setdefault(name, cls(name))
        return manager

    @classmethod
    def reset_all(cls) -> None:
        """Forget every loaded model (tests; a process otherwise keeps its managers for life)."""
        with cls._managers_lock:
            managers, cls._managers = list(cls._managers.values()), {}
        for manager in managers:
            manager.wait_for_swap()

    # --- serving -------------------------------------------------------------------------------
    def get(self, *, check_now: bool = False) -> LoadedModel:
        """The version to generate with. Raises a 503 ApplicationError when there is none to serve.

        `check_now` skips the check interval (the refresh task must write with the version it was
        queued for, not with the one this process loaded a minute ago).
        """
        loaded = self._loaded
        if loaded is not None and not check_now and time.monotonic() < self._next_check:
            return loaded
        if check_now:
            self.wait_for_swap()
        self._check(block=loaded is None or check_now, inline=check_now)
        loaded = self._loaded
        if loaded is None:
            raise self._unavailable()
        return loaded

    @property
    def loaded(self) -> LoadedModel | None:
        """The version serving now, without checking the registry or loading anything."""
        return self._loaded

    @property
    def failure(self) -> LoadFailure | None:
        """The last version that failed to load, while it is still the one the registry wants."""
        return self._failure

    def wait_for_swap(self, timeout: float | None = None) -> None:
        thread = self._swap_thread
        if thread is not None:
            thread.join(timeout)

    # --- internals -----------------------------------------------------------------------------
    def _unavailable(self) -> ApplicationError:
        if self._failure is not None:
            return ApplicationError(
                f"The production model could not be loaded: {self._failure.describe()}", status_code=503
            )
        return ApplicationError(NO_PRODUCTION_MODEL, status_code=503)

    def _check(self, *, block: bool, inline: bool = False) -> None:
        """Compare the registry's key with what is loaded; load or start a swap when it moved.

        Requests that find another thread checking do not wait for it while a model is loaded; the
        swap itself runs in a background thread unless `inline` (or nothing is loaded yet).
        """
        if not self._check_lock.acquire(blocking=block):
            return
        try:
            if block is False and time.monotonic() < self._next_check:
                return
            self._next_check = time.monotonic() + float(settings.CREATIVEOPS["MODEL_CHECK_INTERVAL_SECONDS"])
            if self._swap_thread is not None and self._swap_thread.is_alive():
                return
            try:
                target, key = self._wanted()
            except Exception as error:  # the registry could not be read (database down, ...)
                if self._loaded is None:
                    raise ApplicationError(
                        f"The model registry could not be read ({type(error).__name__}); retry shortly.",
                        status_code=503,
                    )
                logger.warning(
                    "%s: registry check failed; still serving v%s", self.name, self._loaded.version
                )
                return
            if target is None:
                return
            if self._loaded is None or inline:
                self._load_and_install(target, key)
            else:
                self._swap_thread = threading.Thread(
                    target=self._load_and_install,
                    args=(target, key),
                    name=f"model-swap-{self.name}-v{target.version}",
                    daemon=True,
                )
                self._swap_thread.start()
        finally:
            self._check_lock.release()

    def _wanted(self) -> tuple[_Target | None, dict | None]:
        """The production version to load now, or (None, None) when nothing is to be done.

        The registry's key carries the version's id, checksum and artifact, so noticing a promotion
        costs one cache read; the database is read only when an older key lacks those fields.
        """
        from registry.selectors import production_state, production_version, production_version_key

        try:
            key = production_version_key(self.name)
        except Exception:  # the cache is down: the database still knows what is in production
            logger.warning("%s: the registry's version key could not be read; asking the database", self.name)
            key = production_state(self.name, production_version(self.name))
        if not key or key.get("version") is None:
            if self._loaded is not None and key != self._settled_key:
                # Production was archived without a successor: keep answering with the last version.
                logger.warning(
                    "%s: no version is in production; still serving v%s", self.name, self._loaded.version
                )
                self._settled_key = key
            return None, None
        if key == self._settled_key and not self._should_retry_failure():
            return None, None
        target = _target_from_key(key)
        if target is None:
            version = production_version(self.name)
            if version is None:
                return None, None
            target = _Target(version.pk, version.version, version.artifact_uri, version.artifact_sha256)
        loaded = self._loaded
        if loaded is not None and (loaded.version_id, loaded.sha256) == (
            target.version_id,
            target.artifact_sha256,
        ):
            self._settled_key = key  # the key was rebuilt (cache cleared) for the version we serve
            return None, None
        return target, key

    def _should_retry_failure(self) -> bool:
        failure = self._failure
        return self._loaded is None and failure is not None and time.monotonic() >= failure.retry_after

    def _load_and_install(self, target: _Target, key: dict) -> None:
        try:
            loaded = load_model_version(name=self.name, target=target)
        except Exception as error:  # any load error must leave the old model serving
            message = load_error_message(error)
            self._failure = LoadFailure(
                version_id=target.version_id,
                version=target.version,
                message=message,
                at=timezone.now(),
                retry_after=time.monotonic() + FAILURE_RETRY_SECONDS,
            )
            self._settled_key = key
            metrics.model_load_observe(succeeded=False)
            serving = f"still serving v{self._loaded.version}" if self._loaded else "no model is serving"
            logger.error("%s v%s failed to load (%s): %s", self.name, target.version, serving, message)
            return
        previous = self._loaded
        self._loaded = loaded  # the swap: one reference; requests in flight keep the old LoadedModel
        self._failure = None
        self._settled_key = key
        metrics.model_load_observe(succeeded=True)
        metrics.model_loaded_version_set(model_name=self.name, version=loaded.version)
        logger.info(
            "%s v%s loaded in %.2f s (%s parameters)%s",
            self.name,
            loaded.version,
            loaded.load_seconds,
            f"{loaded.generator.parameter_count:,}",
            f", replacing v{previous.version}" if previous else "",
        )


def model_get(*, name: str | None = None, check_now: bool = False) -> LoadedModel:
    """The production model of `name` in this process (loaded on first use)."""
    return ModelManager.for_name(name).get(check_now=check_now)


def preload_models() -> None:
    """Load the production model at process start when CREATIVEOPS_PRELOAD_MODEL is on.

    Meant for a gunicorn `post_worker_init` hook (after the fork): the first request then does not
    pay for the load, and `/ready` turns green only once the model is in memory. A failure is logged
    and left to `/ready`, never fatal: the worker still answers /health and retries on use.
    """
    if not settings.CREATIVEOPS["PRELOAD_MODEL"]:
        return
    try:
        model_get()
    except ApplicationError as error:
        logger.warning("Model preload: %s", error.message)
