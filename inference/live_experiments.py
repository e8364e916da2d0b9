"""A running experiment inside one web process: its challenger model, who it answers, and the shadow work.

Every web process polls the registry's experiment key (`registry.selectors.experiment_key`, a cache
read) at most every MODEL_CHECK_INTERVAL_SECONDS, as it polls the production key. When an experiment
starts, the process loads the challenger *beside* the production model in a background thread
(checksums verified as for a promotion) and holds both while it runs; when it ends (stop, promotion,
failure) the process drops the challenger at its next check, so everyone is back on production within
that interval, on every process. Until the challenger is loaded, requests are answered by production as
if no experiment ran: an experiment never fails or delays a request.

A challenger that cannot be loaded (a missing folder, a changed file) ends the experiment as `failed`
with an audit event (`registry.services.experiment_fail`): one process's report is enough, and the
others drop it at their next check.

Routing (`route`):
* canary: a client is answered by the challenger when a stable hash of the experiment and its routing
  key (the `X-Request-Key` header, else its API token) falls in the first P % of the hash space, so one
  client keeps seeing one version for the whole experiment, and about P % of clients see the challenger;
* shadow: each request is drawn with probability P %; a drawn request is answered by production as
  always, and after the response is sent the challenger writes the same items in this process's
  experiment worker thread (`inference.services.experiment_samples`), off the request path.
Every request is counted per arm; the items of the drawn ones (shadow), and of the challenger's and
about as many of production's requests (canary), are kept and scored as samples.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import socket
import threading
import time
from dataclasses import dataclass
from typing import ClassVar

from django.conf import settings
from django.db import close_old_connections

from creativeops.core.errors import ApplicationError
from inference import metrics
from inference.model_manager import LoadedModel, _target_from_key, load_error_message, load_model_version
from inference.models import ExperimentArm

logger = logging.getLogger(__name__)

CANARY_BUCKETS = 10_000  # hash buckets: a percent is 100 of them
ROUTING_KEY_MAX_CHARS = 200
NO_EXPERIMENT: dict = {"id": None}


@dataclass(frozen=True)
class Route:
    """How one request takes part in the running experiment (if any)."""

    experiment_id: int | None = None
    mode: str | None = None
    arm: str = ExperimentArm.CHAMPION  # who answers the client
    challenger: LoadedModel | None = None  # the loaded challenger (None: not loaded, or no experiment)
    shadow: bool = False  # the challenger also writes this request's items, after the response
    # its items are kept as samples (shadow: the drawn requests; canary: every challenger request and
    # about as many production ones, so that both arms are scored on similar numbers)
    sampled: bool = False

    @property
    def active(self) -> bool:
        return self.experiment_id is not None


NOT_IN_EXPERIMENT = Route()


def canary_bucket(experiment_id: int, routing_key: str) -> int:
    """The stable bucket (0 … CANARY_BUCKETS−1) of a client in one experiment. The experiment's id is
    part of the hash, so the clients that see one experiment's challenger are not always the same ones."""
    digest = hashlib.sha256(f"{experiment_id}:{routing_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % CANARY_BUCKETS


def in_canary(experiment_id: int, routing_key: str, percent: int) -> bool:
    return canary_bucket(experiment_id, routing_key) < percent * CANARY_BUCKETS // 100


def _process_label() -> str:
    return f"serving {socket.gethostname()} pid {os.getpid()}"[:150]


class LiveExperiment:
    """This process's view of one model name's running experiment (a singleton per name)."""

    _instances: ClassVar[dict[str, LiveExperiment]] = {}
    _instances_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, name: str):
        self.name = name
        self._state: dict = NO_EXPERIMENT
        self._challenger: LoadedModel | None = None
        self._next_check = 0.0
        self._check_lock = threading.Lock()
        self._load_thread: threading.Thread | None = None

    @classmethod
    def for_name(cls, name: str | None = None) -> LiveExperiment:
        name = name or settings.CREATIVEOPS["DEFAULT_MODEL_NAME"]
        instance = cls._instances.get(name)
        if instance is None:
            with cls._instances_lock:
                instance = cls._instances.setdefault(name, cls(name))
        return instance

    @classmethod
    def reset_all(cls) -> None:
        """Forget every experiment and challenger (tests; a process otherwise keeps them for life)."""
        with cls._instances_lock:
            instances, cls._instances = list(cls._instances.values()), {}
        for instance in instances:
            instance.wait_for_load()

    # --- reading -----------------------------------------------------------------------------------
    def current(self, *, check_now: bool = False) -> tuple[dict, LoadedModel | None]:
        """(the running experiment's state, its loaded challenger or None); checks the registry's key
        when the check interval has passed (or `check_now`). Never raises: a registry that cannot be
        read keeps the last known state."""
        if check_now:
            self._next_check = 0.0
        if time.monotonic() >= self._next_check:
            self._check()
        state, challenger = self._state, self._challenger
        if challenger is not None and (state.get("challenger") or {}).get("id") != challenger.version_id:
            challenger = None
        return state, challenger

    @property
    def challenger(self) -> LoadedModel | None:
        """The challenger loaded now, without checking the registry (the challenger's batcher)."""
        return self._challenger

    def wait_for_load(self, timeout: float | None = None) -> None:
        thread = self._load_thread
        if thread is not None:
            thread.join(timeout)

    # --- internals ---------------------------------------------------------------------------------
    def _check(self) -> None:
        if not self._check_lock.acquire(blocking=False):
            return  # another request thread is checking: use the state it will leave
        try:
            if time.monotonic() < self._next_check:
                return
            self._next_check = time.monotonic() + float(settings.CREATIVEOPS["MODEL_CHECK_INTERVAL_SECONDS"])
            try:
                state = self._read_key()
            except Exception:  # the registry could not be read: keep the last known state
                logger.warning("%s: the experiment key could not be read; keeping the last state", self.name)
                return
            self._apply(state)
        finally:
            self._check_lock.release()

    def _read_key(self) -> dict:
        from registry.selectors import experiment_key, experiment_state, running_experiment

        try:
            return experiment_key(self.name) or NO_EXPERIMENT
        except Exception:  # the cache is down: the database still knows what runs
            logger.warning(
                "%s: the experiment key could not be read from the cache; asking the database", self.name
            )
            return experiment_state(self.name, running_experiment(self.name))

    def _apply(self, state: dict) -> None:
        if state.get("id") is None:
            if self._state.get("id") is not None:
                logger.info("%s: experiment #%s ended; serving production only", self.name, self._state["id"])
            # the challenger is freed with the last request that holds it
            self._state, self._challenger = NO_EXPERIMENT, None
            return
        wanted = state["challenger"]
        self._state = state
        loaded = self._challenger
        if loaded is not None and (loaded.version_id, loaded.sha256) == (wanted["id"], wanted["sha"]):
            return
        self._challenger = None
        if self._load_thread is not None and self._load_thread.is_alive():
            return  # the load in progress is checked against the state when it finishes
        self._load_thread = threading.Thread(
            target=self._load, args=(state,), name=f"challenger-{self.name}-v{wanted['version']}", daemon=True
        )
        self._load_thread.start()

    def _load(self, state: dict) -> None:
        wanted = state["challenger"]
        try:
            target = _target_from_key(wanted)
            if target is None:
                raise ApplicationError(f"the experiment key names no challenger artifact: {wanted!r}")
            loaded = load_model_version(name=self.name, target=target)
        except Exception as error:  # any load error ends the experiment, never a request
            message = load_error_message(error)
            metrics.model_load_observe(succeeded=False)
            logger.error("%s: challenger v%s failed to load: %s", self.name, wanted["version"], message)
            self._report_failure(state, message)
            return
        metrics.model_load_observe(succeeded=True)
        if self._state.get("id") == state["id"]:
            self._challenger = loaded
            logger.info(
                "%s: challenger v%s loaded in %.2f s for experiment #%s (%s %s%%)",
                self.name,
                loaded.version,
                loaded.load_seconds,
                state["id"],
                state["mode"],
                state["percent"],
            )

    def _report_failure(self, state: dict, message: str) -> None:
        from registry.services import experiment_fail

        try:
            close_old_connections()
            experiment_fail(experiment_id=state["id"], message=message, actor_label=_process_label())
        except Exception:
            logger.exception("%s: could not record the failure of experiment #%s", self.name, state["id"])
        finally:
            close_old_connections()
        if self._state.get("id") == state["id"]:
            self._state, self._challenger = NO_EXPERIMENT, None


def route(*, model_name: str, routing_key: str | None) -> Route:
    """How a request of the client `routing_key` takes part in `model_name`'s running experiment.

    None (the catalog refresh, the marketers' pages, an internal call) takes no part."""
    if routing_key is None:
        return NOT_IN_EXPERIMENT
    live = LiveExperiment.for_name(model_name)
    state, challenger = live.current()
    experiment_id = state.get("id")
    if experiment_id is None:
        return NOT_IN_EXPERIMENT
    mode, percent = state["mode"], int(state["percent"])
    if mode == "canary":
        arm = (
            ExperimentArm.CHALLENGER
            if in_canary(experiment_id, routing_key, percent)
            else ExperimentArm.CHAMPION
        )
        if arm == ExperimentArm.CHALLENGER and challenger is None:
            arm = ExperimentArm.CHAMPION  # not loaded yet (or failing): production answers
        sampled = arm == ExperimentArm.CHALLENGER or _draw(percent / max(1, 100 - percent))
        return Route(experiment_id, mode, arm, challenger, sampled=sampled)
    shadow = challenger is not None and _draw(percent / 100)
    return Route(experiment_id, mode, ExperimentArm.CHAMPION, challenger, shadow=shadow, sampled=shadow)


def _draw(probability: float) -> bool:
    return random.random() < probability  # noqa: S311 (sampling, not security)


def live_experiments_reset() -> None:
    LiveExperiment.reset_all()
