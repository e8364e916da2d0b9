"""Dynamic batching (inference/batching.py): concurrent requests share one generation, each gets its
lone answer, a bad request fails alone, hot swap between batches, a stopping process drains its queue."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from inference.batching import Batcher
from inference.model_manager import model_get
from training.ml.generator import CreativeGenerator, GenerationRequest

REPO = Path(__file__).resolve().parents[2]
TONES = ["bold", "luxury", "value", "playful"]


def _items(count: int) -> list[dict]:
    from inference.benchmark import benchmark_items

    return benchmark_items(count, seed=5)


def _requests(count: int) -> list[GenerationRequest]:
    """Distinct requests that differ in items, tones, variant counts, token limits and seeds."""
    items = _items(count * 2)
    return [
        GenerationRequest(
            items=items[2 * index : 2 * index + 1 + index % 2],
            tone=TONES[index % len(TONES)],
            num_variants=1 + index % 3,
            max_new_tokens=12 + 7 * (index % 4),
            seed=index if index % 2 else None,
        )
        for index in range(count)
    ]


def _alone(generator: CreativeGenerator, request: GenerationRequest) -> list[list[dict]]:
    return generator.generate(
        request.items, request.tone, request.num_variants, request.max_new_tokens, request.seed
    )


def _submit_all(batcher: Batcher, loaded, requests) -> list:
    """Submit every request from its own thread; (answer or exception) per request, in request order."""
    outcomes: list = [None] * len(requests)

    def submit(index: int) -> None:
        try:
            outcomes[index] = batcher.submit(requests[index], loaded=loaded)
        except Exception as error:
            outcomes[index] = error

    threads = [threading.Thread(target=submit, args=(index,)) for index in range(len(requests))]
    for thread in threads:
        thread.start()
    return threads, outcomes


def _wait_for(condition, message: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.005)


def _queued_together(batcher: Batcher, loaded, requests) -> list:
    """Hold the model while the batcher works on a first request and `requests` queue behind it, so
    that they all go into the next batch; then release it. The outcomes of `requests`."""
    with loaded.generator._lock:
        taken = batcher.batches_taken
        first, _ = _submit_all(batcher, loaded, requests[:1])
        _wait_for(lambda: batcher.batches_taken > taken, "the first request was not taken")
        threads, outcomes = _submit_all(batcher, loaded, requests)
        rows = sum(request.rows for request in requests)

        def queued_or_refused() -> bool:
            refused = sum(request.rows for request, outcome in zip(requests, outcomes) if outcome is not None)
            return batcher._queued_rows + refused >= rows

        _wait_for(queued_or_refused, "the requests did not queue")
    for thread in [*first, *threads]:
        thread.join(60)
    return outcomes


@pytest.fixture
def loaded(production_model):
    return model_get()


@pytest.fixture
def make_batcher():
    batchers: list[Batcher] = []

    def make(current_model=lambda: None, max_rows: int = 256, wait_seconds: float = 0.005) -> Batcher:
        batcher = Batcher(
            name="test", current_model=current_model, max_rows=max_rows, wait_seconds=wait_seconds
        )
        batchers.append(batcher)
        return batcher

    yield make
    for batcher in batchers:
        batcher.stop(30)


def test_concurrent_requests_each_get_exactly_their_lone_answer(loaded, make_batcher):
    requests = _requests(8)
    batcher = make_batcher()
    outcomes = _queued_together(batcher, loaded, requests)

    total_rows = sum(request.rows for request in requests)
    assert [answer.batch_rows for answer in outcomes] == [total_rows] * len(requests)  # one batch
    for request, answer in zip(requests, outcomes, strict=True):
        assert answer.loaded is loaded
        assert answer.generated == _alone(loaded.generator, request)
        assert len(answer.generated) == len(request.items)
        assert all(len(variants) == request.num_variants for variants in answer.generated)


def test_a_batch_never_holds_more_rows_than_the_limit(loaded, make_batcher):
    requests = [replace(request, num_variants=2) for request in _requests(6)]  # 2 or 4 rows each
    batcher = make_batcher(max_rows=6)
    outcomes = _queued_together(batcher, loaded, requests)
    assert all(answer.batch_rows <= 6 for answer in outcomes)
    assert {answer.batch_rows for answer in outcomes} != {4}  # requests were gathered into batches
    for request, answer in zip(requests, outcomes, strict=True):
        assert answer.generated == _alone(loaded.generator, request)


def test_requests_of_different_channels_share_a_batch_and_keep_their_own_limits(loaded, make_batcher):
    """Each row decodes with its own request's channel token and limits (GenerationRequest.field_limits),
    so channels mix in one batch and every request still gets its lone answer."""
    from training.ml.channels import CHANNELS

    channels = ["google_search", "generic", "meta_feed", "google_search", "meta_feed", "generic"]
    requests = [
        replace(request, channel=channel) for request, channel in zip(_requests(6), channels, strict=True)
    ]
    outcomes = _queued_together(make_batcher(), loaded, requests)

    assert {answer.batch_rows for answer in outcomes} == {sum(request.rows for request in requests)}
    for request, answer in zip(requests, outcomes, strict=True):
        alone = loaded.generator.generate(
            request.items,
            request.tone,
            request.num_variants,
            request.max_new_tokens,
            request.seed,
            channel=request.channel,
        )
        assert answer.generated == alone
        channel = CHANNELS[request.channel]
        for creative in (creative for variants in answer.generated for creative in variants):
            for output, limit in channel.output_limits().items():
                assert limit is None or channel.width(creative[output]) <= limit


def test_a_request_with_an_invalid_item_fails_alone(loaded, make_batcher):
    requests = _requests(4)
    bad = replace(requests[1], items=[{"title": "", "description": "no title"}])
    outcomes = _queued_together(make_batcher(), loaded, [requests[0], bad, *requests[2:]])

    assert isinstance(outcomes[1], ValueError)
    assert str(outcomes[1]) == "item 0: title must be a non-empty string"
    for request, answer in zip([requests[0], *requests[2:]], [outcomes[0], *outcomes[2:]], strict=True):
        assert answer.generated == _alone(loaded.generator, request)


class _FailsOnOneTitle:
    """The real generator, except that it cannot generate for one title (as a model may hit an error on
    one input only): a batch that contains it raises."""

    def __init__(self, generator: CreativeGenerator, title: str):
        self.generator, self.title = generator, title
        self._lock = generator._lock

    def generate_many(self, requests):
        if any(item["title"] == self.title for request in requests for item in request.items):
            raise RuntimeError(f"cannot generate for {self.title!r}")
        return self.generator.generate_many(requests)


def test_a_request_the_model_fails_on_fails_alone(loaded, make_batcher):
    requests = _requests(4)
    failing = replace(loaded, generator=_FailsOnOneTitle(loaded.generator, requests[2].items[0]["title"]))
    outcomes = _queued_together(make_batcher(), failing, requests)

    assert isinstance(outcomes[2], RuntimeError)
    assert str(outcomes[2]) == f"cannot generate for {requests[2].items[0]['title']!r}"
    for index in (0, 1, 3):
        assert outcomes[index].generated == _alone(loaded.generator, requests[index])


def test_a_lone_request_waits_at_most_the_window(loaded, make_batcher):
    window = 0.3
    batcher = make_batcher(wait_seconds=window)
    request = _requests(1)[0]

    # An idle process: the lone request starts at once, it does not wait for company.
    answer = batcher.submit(request, loaded=loaded)
    assert answer.queue_wait_seconds < window
    assert answer.batch_rows == request.rows
    assert answer.generated == _alone(loaded.generator, request)

    # Under concurrent load (the last batch held several requests) the window opens, and closes on time.
    _queued_together(batcher, loaded, _requests(3))
    answer = batcher.submit(request, loaded=loaded)
    assert window <= answer.queue_wait_seconds < window + answer.generate_seconds + 1.0
    assert answer.batch_rows == request.rows


def test_a_full_batch_does_not_wait_for_the_window(loaded, make_batcher):
    requests = [replace(request, num_variants=1) for request in _requests(4)]
    batcher = make_batcher(max_rows=sum(request.rows for request in requests), wait_seconds=30.0)
    _queued_together(batcher, loaded, _requests(2))  # the next batch waits for company
    threads, outcomes = _submit_all(batcher, loaded, requests)
    for thread in threads:
        thread.join(20)
    assert all(answer.queue_wait_seconds < 30.0 for answer in outcomes)


def _other_version(loaded):
    """The same architecture with other weights, as v2: its creatives differ from v1's."""
    model = copy.deepcopy(loaded.generator.model)
    with torch.no_grad():
        generator = torch.Generator().manual_seed(7)
        for parameter in model.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.05)
    generator = CreativeGenerator(model, loaded.generator.tokenizer, loaded.generator.manifest)
    return replace(loaded, version=loaded.version + 1, version_id=loaded.version_id + 1, generator=generator)


def test_hot_swap_during_a_stream_loses_none_and_mixes_no_versions(loaded, make_batcher):
    second = _other_version(loaded)
    requests = _requests(6)
    expected = {
        model.version: [_alone(model.generator, request) for request in requests]
        for model in (loaded, second)
    }
    assert expected[loaded.version] != expected[second.version]
    serving = [loaded]
    batcher = make_batcher(current_model=lambda: serving[0])
    answers: list[tuple[int, object]] = []
    stop = threading.Event()

    def client(offset: int) -> None:
        index = offset
        while not stop.is_set():
            answers.append((index, batcher.submit(requests[index], loaded=loaded)))
            index = (index + 1) % len(requests)

    clients = [threading.Thread(target=client, args=(offset,)) for offset in range(4)]
    for thread in clients:
        thread.start()
    deadline = time.monotonic() + 60
    while len(answers) < 12 and time.monotonic() < deadline:
        time.sleep(0.02)
    serving[0] = second  # the promotion: the next batch uses v2
    swapped_at = len(answers)
    while len(answers) < swapped_at + 12 + 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    for thread in clients:
        thread.join(30)

    assert not any(thread.is_alive() for thread in clients)
    versions = [answer.loaded.version for _index, answer in answers]
    assert set(versions) == {loaded.version, second.version}
    # Once a request was answered by v2, v1 (at most the batch in flight at the swap) is gone.
    assert loaded.version not in versions[versions.index(second.version) + 4 :]
    for index, answer in answers:  # every response entirely from the version it names
        assert answer.generated == expected[answer.loaded.version][index]


def test_requests_after_stop_are_still_answered(loaded, make_batcher):
    batcher = make_batcher()
    batcher.stop(30)
    request = _requests(1)[0]
    assert batcher.submit(request, loaded=loaded).generated == _alone(loaded.generator, request)


DRAIN_SCRIPT = """
import os, runpy, signal, sys, threading, time
import django
django.setup()
from django.utils import timezone
from inference import batching
from inference.model_manager import LoadedModel
from training.ml.generator import CreativeGenerator, GenerationRequest
import torch

torch.set_num_threads(1)
generator = CreativeGenerator.load(sys.argv[1])
loaded = LoadedModel("drain", 1, 1, "", "", generator, timezone.now(), 0.0)
hooks = runpy.run_path(sys.argv[2])  # deploy/gunicorn.conf.py: its worker_exit hook on SIGTERM
answers, queued_at_stop = [], []


def on_sigterm(signum, frame):
    queued_at_stop.append(batching.batcher_for("drain")._queued_rows)
    hooks["worker_exit"](None, None)
    for thread in threads:
        thread.join(60)
    print(f"queued at SIGTERM: {queued_at_stop[0]}; answered {len(answers)} of {len(threads)}", flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, on_sigterm)
item = {"title": "Ridgeway Backpack 30 L", "description": "Ripstop nylon, sheds rain."}
request = GenerationRequest([item], "bold", num_variants=2, max_new_tokens=48)
batcher = batching.batcher_for("drain")
threads = [
    threading.Thread(target=lambda: answers.append(batcher.submit(request, loaded=loaded))) for _ in range(8)
]
with generator._lock:  # hold the model until the requests wait in the queue
    for thread in threads:
        thread.start()
    while batcher._queued_rows < 2 * 8 - 2:
        time.sleep(0.01)
print("queued", flush=True)
while True:
    time.sleep(0.01)
"""


def test_a_stopped_process_drains_its_queue_on_sigterm(tiny_artifact, tmp_path):
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "creativeops.settings_test",
        "BATCH_MAX_ROWS": "2",  # one request per batch: the queue stays long while the first ones run
        "PYTHONPATH": str(REPO),
    }
    process = subprocess.Popen(
        [sys.executable, "-c", DRAIN_SCRIPT, str(tiny_artifact), str(REPO / "deploy" / "gunicorn.conf.py")],
        cwd=REPO,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout.readline().strip() == "queued"
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr[-2000:]
    queued = int(stdout.split("queued at SIGTERM: ")[1].split(";")[0])
    assert queued > 0  # requests were still waiting when the signal came
    assert "answered 8 of 8" in stdout


def test_a_canarys_requests_are_batched_by_model_one_generation_at_a_time(
    loaded, make_batcher, other_tiny_artifact
):
    """With a canary running, production's and the challenger's requests share one queue: each batch is
    of one model (the challenger's requests keep their place while production's generate), and every
    request gets the answer its own model gives alone."""
    challenger = replace(loaded, version=2, generator=CreativeGenerator.load(other_tiny_artifact))
    requests = _requests(6)
    arms = ["champion", "challenger", "champion", "challenger", "challenger", "champion"]
    models = {"champion": loaded, "challenger": challenger}
    batcher = make_batcher(current_model=lambda: loaded)
    outcomes: list = [None] * len(requests)

    def submit(index: int) -> None:
        outcomes[index] = batcher.submit(requests[index], loaded=models[arms[index]], arm=arms[index])

    with loaded.generator._lock:  # production is busy with a first request while the others queue
        taken = batcher.batches_taken
        first = threading.Thread(target=batcher.submit, args=(_requests(1)[0],), kwargs={"loaded": loaded})
        first.start()
        _wait_for(lambda: batcher.batches_taken > taken, "the first request was not taken")
        threads = [threading.Thread(target=submit, args=(index,)) for index in range(len(requests))]
        for thread in threads:
            thread.start()
        _wait_for(lambda: batcher._queued_rows >= sum(r.rows for r in requests), "the requests did not queue")
    for thread in [first, *threads]:
        thread.join(60)

    for arm in ("champion", "challenger"):
        rows = sum(request.rows for request, own in zip(requests, arms, strict=True) if own == arm)
        answers = [answer for answer, own in zip(outcomes, arms, strict=True) if own == arm]
        assert {answer.batch_rows for answer in answers} == {rows}  # one batch per model
        assert all(answer.loaded is models[arm] for answer in answers)
    for request, arm, answer in zip(requests, arms, outcomes, strict=True):
        assert answer.generated == _alone(models[arm].generator, request)
