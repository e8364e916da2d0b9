"""Dynamic batching: concurrent predictions of one process share the model in one generation call.

Each web process runs one batcher thread per model name. A request thread validates its request,
puts it in the queue and waits; the batcher takes the waiting requests (up to `BATCH_MAX_ROWS` rows,
oldest first), decodes all their rows in one `CreativeGenerator.generate_many` call and hands every
request its own creatives. Rows, not requests, are batched: tones, variant counts and token limits
may differ, each row stops at its own limit, and a request's sampled variants draw from its own
seeded generator, so a request gets exactly what it would have got alone.

The window: when the previous batch held several requests (the process is under concurrent load), the
first waiting request waits at most `BATCH_WAIT_MS` for others, or until `BATCH_MAX_ROWS` rows wait.
When the process was serving one request at a time, a request starts at once: waiting for company that
is not coming would only add the window to every lone request's latency. Requests that arrive while a
batch runs queue up and form the next batch either way.

Hot swap: a batch generates with the model the process serves when the batch starts (the `LoadedModel`
is taken once per batch), so a batch in flight finishes on its model and every response names the
version that wrote all of its rows; the next batch uses the new one.

One bad request never fails the others: requests are validated in their own thread before they
queue, and if a batched call still raises, each of its requests is run again alone, so the error
reaches only the request that causes it.

Stopping (gunicorn's `worker_exit`, or interpreter exit) drains the queue: every request already
waiting is generated before the thread ends, and a request that comes after the stop is generated
in its own thread.
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
    enqueued: float = field(default_factory=time.monotonic)
    done: threading.Event = field(default_factory=threading.Event)
    answer: BatchedAnswer | None = None
    error: BaseException | None = None


class Batcher:
    """One queue and one thread that generates its requests in batches (see the module docstring).

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
        self._stopping = False
        self._previous_requests = 0  # requests in the last batch: >1 means concurrent load
        self.batches_taken = 0
        self._thread = threading.Thread(target=self._run, name=f"batcher-{name}", daemon=True)
        self._thread.start()

    # --- request threads -----------------------------------------------------------------------
    def submit(self, request: GenerationRequest, *, loaded: LoadedModel) -> BatchedAnswer:
        """Generate `request` in the next batch and wait for it. Raises what generating it alone raises
        (ValueError for input the model cannot read) and nothing another request caused."""
        request.validated_tones()  # a request the model cannot read fails here, alone, before it queues
        waiting = _Waiting(request, loaded)
        with self._condition:
            if self._stopping:
                stopped = True
            else:
                stopped = False
                self._queue.append(waiting)
                self._queued_rows += request.rows
                self._condition.notify()
        if stopped:  # the process is shutting down: never lose a request, generate it here
            self._generate([waiting])
        waiting.done.wait()
        if waiting.error is not None:
            raise waiting.error
        assert waiting.answer is not None
        return waiting.answer

    def stop(self, timeout: float | None = None) -> None:
        """Generate what is queued, then end the thread (waits up to `timeout` seconds)."""
        with self._condition:
            self._stopping = True
            self._condition.notify()
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # --- the batcher thread --------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            try:
                self._generate(batch)
            except BaseException as error:  # never leave a request thread waiting for an answer
                logger.exception("%s: the batcher failed on a batch", self.name)
                for waiting in batch:
                    if not waiting.done.is_set():
                        self._finish(waiting, error=error)

    def _next_batch(self) -> list[_Waiting] | None:
        with self._condition:
            while not self._queue:
                if self._stopping:
                    return None
                self._condition.wait()
            if self._previous_requests > 1 and not self._stopping:
                deadline = self._queue[0].enqueued + self.wait_seconds
                while self._queued_rows < self.max_rows and not self._stopping:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._condition.wait(left)
            batch, rows = [], 0
            # Oldest first; the first request always goes (a request larger than max_rows runs alone).
            while self._queue and (not batch or rows + self._queue[0].request.rows <= self.max_rows):
                waiting = self._queue.popleft()
                batch.append(waiting)
                rows += waiting.request.rows
            self._queued_rows -= rows
            self._previous_requests = len(batch)
            self.batches_taken += 1
            return batch

    def _generate(self, batch: list[_Waiting]) -> None:
        started = time.monotonic()
        try:
            loaded = self._current_model() or batch[0].loaded
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
        waiting.done.set()


# --- one batcher per model name and process ----------------------------------------------------

_batchers: dict[str, Batcher] = {}
_batchers_lock = threading.Lock()
_batchers_pid = os.getpid()


def batching_enabled() -> bool:
    return int(settings.CREATIVEOPS["BATCH_MAX_ROWS"]) > 0


def batcher_for(name: str) -> Batcher:
    """This process's batcher of model `name`, started on first use (after gunicorn's fork)."""
    global _batchers_pid
    batcher = _batchers.get(name)
    if batcher is not None and _batchers_pid == os.getpid() and batcher.alive:
        return batcher
    with _batchers_lock:
        if _batchers_pid != os.getpid():  # forked: the parent's threads do not exist here
            _batchers.clear()
            _batchers_pid = os.getpid()
        batcher = _batchers.get(name)
        if batcher is None or not batcher.alive:
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
    """Drain and stop this process's batchers (gunicorn's worker_exit hook; interpreter exit)."""
    with _batchers_lock:
        batchers = list(_batchers.values()) if _batchers_pid == os.getpid() else []
        _batchers.clear()
    for batcher in batchers:
        batcher.stop(timeout)


atexit.register(batchers_stop)
