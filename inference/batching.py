"""Dynamic batching: concurrent predictions of one process share the model in one generation call.

Each web process keeps one queue per model name. A request thread validates its request and queues
it. If no other thread is generating, it leads: it takes the waiting requests (up to `BATCH_MAX_ROWS`
rows, oldest first, its own among them), decodes all their rows in one
`CreativeGenerator.generate_many` call in its own thread, hands every request its own creatives, and
once its own request is answered passes the lead to the oldest request still waiting. Rows, not
requests, are batched: tones, channels, variant counts and token limits may differ, each row stops at
its own limit and keeps its own request's channel (its prompt token and field limits: the generator
takes them per request), and a request's sampled variants draw from its own seeded generator, so a
request gets exactly what it would have got alone. A lone request is generated in the thread that
received it: no hand-off between threads, no wait (a dedicated batcher thread measured slower at one
client, where every request paid two thread wake-ups; see deploy/README-deploy.md).

The window: when the previous batch held several requests (the process is under concurrent load), the
leader waits at most `BATCH_WAIT_MS` after the oldest request arrived for others, or until
`BATCH_MAX_ROWS` rows wait. When the process was serving one request at a time, a request starts at
once: waiting for company that is not coming would only add the window to every lone request's
latency. Requests that arrive while a batch runs queue up and form the next batch either way.

Hot swap: a batch generates with the model the process serves when the batch starts (the `LoadedModel`
is taken once per batch), so a batch in flight finishes on its model and every response names the
version that wrote all of its rows; the next batch uses the new one.

A canary (inference/live_experiments.py) puts some requests on a challenger model: they queue in the
same batcher, and a batch holds the requests of one model (the oldest waiting request's), the others
keeping their place. So a process still runs one generation at a time with two models loaded: two
batches never compete for the cores (measured by `benchmark_serving --experiments`).

One bad request never fails the others: requests are validated in their own thread before they
queue, and if a batched call still raises, each of its requests is run again alone, so the error
reaches only the request that causes it.

Stopping: the queue drains on the request threads themselves, which gunicorn lets finish on SIGTERM
(graceful_timeout); its `worker_exit` hook (and interpreter exit) then waits until nothing is queued.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.conf import settings

from inference import metrics

if TYPE_CHECKING:
    from inference.model_manager import LoadedModel
    from training.ml.generator import GenerationRequest

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchedAnswer:
    """A request's creatives, the model that wrote them, and how its time was spent."""

    loaded: LoadedModel
    generated: list[list[dict]]
    queue_wait_seconds: float  # from joining the queue to the start of its batch's generation
    generate_seconds: float  # the batch's generation call
    batch_rows: int  # rows in the batch that generated it (its own included)


@dataclass(eq=False)
class _Waiting:
    request: GenerationRequest
    loaded: LoadedModel  # the model the request thread was handed: used if the process has none now
    # "champion": production's request, generated with the model the process serves when its batch
    # starts; "challenger": a canary's, generated with `loaded` (an experiment's challenger)
    arm: str = "champion"
    enqueued: float = field(default_factory=time.monotonic)
    wake: threading.Event = field(default_factory=threading.Event)  # answered, or asked to lead
    answer: BatchedAnswer | None = None
    error: BaseException | None = None

    @property
    def finished(self) -> bool:
        return self.answer is not None or self.error is not None


class Batcher:
    """One queue of a process's requests for one model, generated in batches (see the module docstring).

    There is no batcher thread: the request thread that finds nobody generating leads. It takes the
    waiting requests (its own among them), generates the batch in its own thread and, once its own
    request is answered, hands the lead to the oldest request still waiting, or drops it when none is.
    So a lone request is generated in the thread that received it, with no hand-off between threads,
    and under load the requests still share one generation at a time.

    `current_model` returns the model to start a batch with (None: use the first request's own).
    """

    def __init__(
        self,
        *,
        name: str,
        current_model: Callable[[], LoadedModel | None],
        max_rows: int,
        wait_seconds: float,
    ):
        self.name = name
        self._current_model = current_model
        self.max_rows = max(1, int(max_rows))
        self.wait_seconds = max(0.0, float(wait_seconds))
        self._queue: deque[_Waiting] = deque()
        self._queued_rows = 0
        self._condition = threading.Condition()
        self._leading = False  # a request thread is taking or generating a batch
        self._previous_requests = 0  # requests in the last batch: >1 means concurrent load
        self.batches_taken = 0

    def submit(
        self, request: GenerationRequest, *, loaded: LoadedModel, arm: str = "champion"
    ) -> BatchedAnswer:
        """Generate `request` in the next batch and wait for it. Raises what generating it alone raises
        (ValueError for input the model cannot read) and nothing another request caused.

        `arm="challenger"`: a canary request, generated with `loaded` in a batch of its own model's
        requests; the process still runs one generation at a time, so a canary never has two models
        compete for the cores."""
        request.validated_tones()  # a request the model cannot read fails here, alone, before it queues
        waiting = _Waiting(request, loaded, arm)
        with self._condition:
            self._queue.append(waiting)
            self._queued_rows += request.rows
            lead = not self._leading
            self._leading = True
            self._condition.notify_all()  # a leader keeping its window open counts the rows again
        if not lead:
            waiting.wake.wait()
        if not waiting.finished:  # nobody was generating, or the previous leader handed over
            self._lead(waiting)
        if waiting.error is not None:
            raise waiting.error
        assert waiting.answer is not None
        return waiting.answer

    @property
    def idle(self) -> bool:
        """No request is generating or waiting (a shadow may use the cores now without slowing one)."""
        return not self._leading and not self._queue

    def wait_idle(self, timeout: float) -> bool:
        """Block until `idle` (woken by the batcher's own events, not by polling), at most `timeout`
        seconds; whether it is idle."""
        with self._condition:
            return self._condition.wait_for(lambda: self.idle, timeout)

    def stop(self, timeout: float | None = 30.0) -> bool:
        """Wait until every queued request has been answered (the queue drains on the request threads,
        which gunicorn lets finish on SIGTERM). False when requests were still waiting at `timeout`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._condition:
            while self._queue or self._leading:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    logger.warning("%s: %d requests still queued at stop", self.name, len(self._queue))
                    return False
                self._condition.wait(left)
        return True

    # --- the leading request thread ------------------------------------------------------------
    def _lead(self, own: _Waiting) -> None:
        batch: list[_Waiting] = []
        try:
            while not own.finished:
                batch = self._next_batch()
                self._generate(batch)
        except BaseException as error:  # never leave a request waiting for an answer
            logger.exception("%s: a batch failed", self.name)
            for waiting in batch:
                if not waiting.finished:
                    self._finish(waiting, error=error)
            if not own.finished:
                self._finish(own, error=error)
        finally:
            with self._condition:
                if self._queue:
                    self._queue[0].wake.set()  # the oldest waiting request leads next
                else:
                    self._leading = False
                self._condition.notify_all()

    def _next_batch(self) -> list[_Waiting]:
        with self._condition:
            if self._previous_requests > 1:
                deadline = self._queue[0].enqueued + self.wait_seconds
                while self._queued_rows < self.max_rows:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._condition.wait(left)
            batch, rows, others = [], 0, deque()
            first = self._queue[0]
            # Oldest first, of the oldest request's model; the first request always goes (a request
            # larger than max_rows runs alone). Another model's requests keep their place in the queue.
            while self._queue:
                waiting = self._queue[0]
                if not _same_model(waiting, first):
                    others.append(self._queue.popleft())
                    continue
                if batch and rows + waiting.request.rows > self.max_rows:
                    break
                batch.append(self._queue.popleft())
                rows += waiting.request.rows
            others.extend(self._queue)
            self._queue = others
            self._queued_rows -= rows
            self._previous_requests = len(batch)
            self.batches_taken += 1
            return batch

    def _generate(self, batch: list[_Waiting]) -> None:
        started = time.monotonic()
        try:
            loaded = (
                batch[0].loaded if batch[0].arm != "champion" else self._current_model() or batch[0].loaded
            )
        except Exception:  # the manager could not be asked: answer with the model the requests had
            logger.exception("%s: could not read the serving model; using the requests' own", self.name)
            loaded = batch[0].loaded
        rows = sum(waiting.request.rows for waiting in batch)
        try:
            answers = loaded.generator.generate_many([waiting.request for waiting in batch])
        except Exception as error:
            if len(batch) == 1:
                self._finish(batch[0], error=error)
                return
            logger.warning(
                "%s: a batch of %d requests failed (%s); generating each alone", self.name, len(batch), error
            )
            for waiting in batch:
                self._generate([waiting])
            return
        seconds = time.monotonic() - started
        metrics.batch_observe(rows=rows, queue_waits=[started - waiting.enqueued for waiting in batch])
        for waiting, generated in zip(batch, answers, strict=True):
            answer = BatchedAnswer(loaded, generated, started - waiting.enqueued, seconds, rows)
            self._finish(waiting, answer=answer)

    @staticmethod
    def _finish(
        waiting: _Waiting, *, answer: BatchedAnswer | None = None, error: BaseException | None = None
    ):
        waiting.answer, waiting.error = answer, error
        waiting.wake.set()


def _same_model(waiting: _Waiting, first: _Waiting) -> bool:
    """Whether two queued requests are generated by the same model (production's, or one challenger)."""
    return waiting.arm == first.arm and (first.arm == "champion" or waiting.loaded is first.loaded)


# --- one batcher per model name and process ----------------------------------------------------

_batchers: dict[str, Batcher] = {}
_batchers_lock = threading.Lock()
_batchers_pid = os.getpid()


def batching_enabled() -> bool:
    return int(settings.CREATIVEOPS["BATCH_MAX_ROWS"]) > 0


def batcher_for(name: str) -> Batcher:
    """This process's batcher of model `name` (a forked child starts with its own, empty ones)."""
    global _batchers_pid
    batcher = _batchers.get(name)
    if batcher is not None and _batchers_pid == os.getpid():
        return batcher
    with _batchers_lock:
        if _batchers_pid != os.getpid():  # forked: the parent's queues are not this process's
            _batchers.clear()
            _batchers_pid = os.getpid()
        batcher = _batchers.get(name)
        if batcher is None:
            from inference.model_manager import ModelManager

            config = settings.CREATIVEOPS
            batcher = Batcher(
                name=name,
                current_model=lambda: ModelManager.for_name(name).loaded,
                max_rows=int(config["BATCH_MAX_ROWS"]),
                wait_seconds=float(config["BATCH_WAIT_MS"]) / 1000,
            )
            _batchers[name] = batcher
        return batcher


def batchers_stop(timeout: float | None = 30.0) -> None:
    """Wait until this process's queued requests are answered (gunicorn's worker_exit; interpreter exit)."""
    with _batchers_lock:
        batchers = list(_batchers.values()) if _batchers_pid == os.getpid() else []
    for batcher in batchers:
        batcher.stop(timeout)


atexit.register(batchers_stop)
