"""Serving under concurrent load, ours against MLflow's server on the same model (`benchmark_serving`).

One model is served two ways at once, each on a free port of 127.0.0.1: our gunicorn with the deploy
configuration (deploy/gunicorn.conf.py: its workers, request threads and dynamic batcher) in the
sandbox of inference/benchmark.py, and `mlflow models serve --env-manager local` of the model's
pyfunc export (`export_mlflow_pyfunc`) with the same number of workers. Closed-loop clients (each sends
one single-item request, waits for the answer, sends the next) drive each server in turn for the
same time, on the same catalog items, client count by client count, so that a neighbour's load on a
shared machine weighs on both alike; the ratios of one run are what to compare.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from inference.benchmark import _wait_ready, free_port

REQUEST_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class Endpoint:
    """How to ask one server for the creatives of one item."""

    port: int
    path: str
    body: Callable[[dict], dict]  # the JSON body for one item
    headers: dict[str, str] = field(default_factory=dict)
    # headers of one request, from (client index, request number): e.g. a visitor's X-Request-Key
    headers_for: Callable[[int, int], dict[str, str]] | None = None


@dataclass(frozen=True)
class LoadResult:
    clients: int
    seconds: float
    latencies: list[float]  # seconds of every answered request
    errors: int

    @property
    def requests_per_second(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile_ms(self, share: float) -> float | None:
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))] * 1000

    def as_dict(self) -> dict:
        return {
            "clients": self.clients,
            "requests": len(self.latencies),
            "errors": self.errors,
            "requests_per_second": round(self.requests_per_second, 2),
            **{f"p{int(share * 100)}_ms": self.percentile_ms(share) for share in (0.5, 0.95, 0.99)},
        }


def closed_loop(endpoint: Endpoint, *, clients: int, seconds: float, items: list[dict]) -> LoadResult:
    """`clients` threads, each on its own keep-alive connection, sending one request after another for
    `seconds`; client i starts at item i and walks the list, so every server sees the same inputs."""
    deadline = time.monotonic() + seconds
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    started = time.monotonic()

    def client(index: int) -> None:
        connection = None
        position = index
        while time.monotonic() < deadline:
            body = json.dumps(endpoint.body(items[position % len(items)]))
            position += 1
            sent = time.perf_counter()
            try:
                if connection is None:
                    connection = http.client.HTTPConnection(
                        "127.0.0.1", endpoint.port, timeout=REQUEST_TIMEOUT_SECONDS
                    )
                own = endpoint.headers_for(index, position) if endpoint.headers_for else {}
                connection.request(
                    "POST",
                    endpoint.path,
                    body=body,
                    headers={"Content-Type": "application/json", **endpoint.headers, **own},
                )
                response = connection.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                if connection is not None:
                    connection.close()
                connection = None
            if ok:
                latencies[index].append(time.perf_counter() - sent)
            else:
                errors[index] += 1
        if connection is not None:
            connection.close()

    threads = [threading.Thread(target=client, args=(index,), daemon=True) for index in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + REQUEST_TIMEOUT_SECONDS + 5)
    elapsed = time.monotonic() - started
    return LoadResult(clients, elapsed, [value for values in latencies for value in values], sum(errors))


def interleaved(
    endpoints: tuple[Endpoint, ...], *, clients: int, seconds: float, slices: int, items: list[dict]
) -> tuple[LoadResult, ...]:
    """`seconds` of closed-loop load on each endpoint, run in `slices` turns that alternate between
    them, so that a neighbour's load on a shared machine weighs on every endpoint alike."""
    turns: list[list[LoadResult]] = [[] for _ in endpoints]
    for _ in range(slices):
        for index, endpoint in enumerate(endpoints):
            turns[index].append(closed_loop(endpoint, clients=clients, seconds=seconds / slices, items=items))
    return tuple(
        LoadResult(
            clients,
            sum(result.seconds for result in results),
            [value for result in results for value in result.latencies],
            sum(result.errors for result in results),
        )
        for results in turns
    )


def ours_endpoint(port: int, token: str, *, tone: str, max_new_tokens: int) -> Endpoint:
    return Endpoint(
        port=port,
        path="/api/v1/predict",
        body=lambda item: {**item, "tone": tone, "max_new_tokens": max_new_tokens},
        headers={"Authorization": f"Token {token}"},
    )


def mlflow_endpoint(port: int, *, tone: str, max_new_tokens: int) -> Endpoint:
    return Endpoint(
        port=port,
        path="/invocations",
        body=lambda item: {
            "dataframe_records": [{**item, "tone": tone}],
            "params": {"max_new_tokens": max_new_tokens},
        },
    )


def first_creative(endpoint: Endpoint, item: dict) -> dict:
    """The creative a server answers for `item` (to check both serve the same model)."""
    connection = http.client.HTTPConnection("127.0.0.1", endpoint.port, timeout=REQUEST_TIMEOUT_SECONDS)
    try:
        connection.request(
            "POST",
            endpoint.path,
            body=json.dumps(endpoint.body(item)),
            headers={"Content-Type": "application/json", **endpoint.headers},
        )
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise RuntimeError(f"{endpoint.path} answered {response.status}: {body[:300]!r}")
    answer = json.loads(body)
    creative = answer["creatives"][0] if "creatives" in answer else answer["predictions"][0]
    return {name: creative[name] for name in ("tone", "headline", "body", "cta")}


@contextmanager
def mlflow_server(
    *, export: Path, workers: int, torch_threads: int, workdir: Path, timeout: float = 180.0
) -> Iterator[int]:
    """`mlflow models serve --env-manager local` of the pyfunc `export` on 127.0.0.1:<free port>."""
    port = free_port()
    mlflow = Path(sys.executable).with_name("mlflow")
    command = [
        str(mlflow), "models", "serve", "-m", str(export), "--env-manager", "local",
        "-w", str(workers), "-h", "127.0.0.1", "-p", str(port),
    ]  # fmt: skip
    environment = {
        **os.environ,
        # MLflow runs `uvicorn` by name: the one installed beside this interpreter, even unactivated.
        "PATH": os.pathsep.join([str(mlflow.parent), os.environ.get("PATH", "")]),
        "TORCH_NUM_THREADS": str(torch_threads),  # read by the pyfunc's load_context, as our workers do
        "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow-serve.db'}",
        "MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT": str(int(REQUEST_TIMEOUT_SECONDS)),
    }
    log_path = workdir / "mlflow-serve.log"
    log = log_path.open("wb")
    # Its own process group: `mlflow models serve` starts the web server (and its workers) as children.
    process = subprocess.Popen(
        command, env=environment, cwd=workdir, stdout=log, stderr=log, start_new_session=True
    )
    try:
        _wait_ready(port, process, timeout, log_path, path="/ping")
        yield port
    finally:
        _stop_group(process)
        log.close()


def _stop_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def ratio(ours: float | None, theirs: float | None) -> float | None:
    return round(ours / theirs, 2) if ours is not None and theirs else None


def format_table(rows: list[tuple[LoadResult, LoadResult]]) -> str:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f}"

    lines = [
        "| clients | ours req/s | MLflow req/s | req/s ratio | ours p50 / p95 / p99 ms | "
        "MLflow p50 / p95 / p99 ms | p50 ratio | p95 ratio | errors ours / MLflow |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for ours, theirs in rows:
        lines.append(
            f"| {ours.clients} | {ours.requests_per_second:.1f} | {theirs.requests_per_second:.1f} | "
            f"{ratio(ours.requests_per_second, theirs.requests_per_second)}x | "
            f"{' / '.join(ms(ours.percentile_ms(share)) for share in (0.5, 0.95, 0.99))} | "
            f"{' / '.join(ms(theirs.percentile_ms(share)) for share in (0.5, 0.95, 0.99))} | "
            f"{ratio(ours.percentile_ms(0.5), theirs.percentile_ms(0.5))}x | "
            f"{ratio(ours.percentile_ms(0.95), theirs.percentile_ms(0.95))}x | "
            f"{ours.errors} / {theirs.errors} |"
        )
    return "\n".join(lines)
