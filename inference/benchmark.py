"""What serving costs on top of the model: raw generation vs the API in process and over HTTP, and
batching vs one request per item. Used by `manage.py benchmark_inference`.

Everything runs in a sandbox so that measuring never touches the real system: a throw-away database
(Django's test-database machinery: a file for SQLite, `<name>_benchmark_<pid>` on PostgreSQL), a
local-memory cache, generous throttle rates, and a benchmark token. The model is the real production
artifact when there is one (linked, not copied), else a `tiny` model trained into a temporary folder.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError
from django.db import DatabaseError, connection
from django.test.utils import override_settings

from products.generator import generate_catalog

BENCHMARK_TONE = "bold"
HIGH_RATE = "1000000/min"


def benchmark_items(count: int, seed: int = 11) -> list[dict]:
    """`count` distinct catalog products as API items (the same inputs for every measurement)."""
    return [
        {
            "title": product.title,
            "description": product.description,
            "category": product.category,
            "brand": product.brand,
            "price": float(product.price),
        }
        for product in generate_catalog(count, seed=seed)
    ]


# The channel-constraint comparison: raw generation for this channel with and without its limits.
CONSTRAINT_CHANNEL = "google_search"
CONSTRAINT_BATCHES = (1, 32)


@dataclass(frozen=True)
class Timing:
    samples: list[float]  # wall seconds
    cpu_samples: list[float] = field(default_factory=list)  # CPU seconds of this process (all threads)

    @property
    def cpu_p50_ms(self) -> float | None:
        return statistics.median(self.cpu_samples) * 1000 if self.cpu_samples else None

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.samples) * 1000

    @property
    def p95_ms(self) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] * 1000


@dataclass
class BenchmarkReport:
    model: str
    threads: int
    max_new_tokens: int
    batch_threads: int = 0  # intra-op threads of a call with 8+ rows (BATCH_TORCH_THREADS); 0: `threads`
    raw: Timing | None = None
    api_in_process: Timing | None = None
    api_http: Timing | None = None
    http_floor: Timing | None = None  # GET /health over HTTP: what any request costs on this machine
    batch_items_per_second: float = 0.0
    sequential_items_per_second: float = 0.0
    batch_size: int = 0
    # raw generation for CONSTRAINT_CHANNEL with and without its character budget, same items:
    # {"free_1", "limited_1", "free_32", "limited_32"} (items per call after the underscore)
    constraint: dict[str, Timing] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    load_average: tuple[float, float, float] | None = None

    def ratios(self) -> dict[str, float]:
        result = {}
        if self.raw and self.api_in_process:
            result["api_in_process_over_raw_p50"] = self.api_in_process.p50_ms / self.raw.p50_ms
        if self.raw and self.api_in_process and self.raw.cpu_samples and self.api_in_process.cpu_samples:
            result["api_in_process_over_raw_cpu_p50"] = self.api_in_process.cpu_p50_ms / self.raw.cpu_p50_ms
        if self.raw and self.api_http:
            result["api_http_over_raw_p50"] = self.api_http.p50_ms / self.raw.p50_ms
        if self.sequential_items_per_second:
            result["batch_over_sequential_throughput"] = (
                self.batch_items_per_second / self.sequential_items_per_second
            )
        for size in CONSTRAINT_BATCHES:
            free, limited = self.constraint.get(f"free_{size}"), self.constraint.get(f"limited_{size}")
            if free and limited:
                result[f"constraint_over_free_p50_batch_{size}"] = limited.p50_ms / free.p50_ms
        return result

    def as_dict(self) -> dict:
        def timing(value: Timing | None):
            if not value:
                return None
            return {
                "n": len(value.samples),
                "p50_ms": value.p50_ms,
                "p95_ms": value.p95_ms,
                "cpu_p50_ms": value.cpu_p50_ms,
            }

        return {
            "model": self.model,
            "torch_threads": self.threads,
            "batch_torch_threads": max(self.batch_threads, self.threads),
            "max_new_tokens": self.max_new_tokens,
            "raw": timing(self.raw),
            "api_in_process": timing(self.api_in_process),
            "api_http": timing(self.api_http),
            "http_health": timing(self.http_floor),
            "batch_size": self.batch_size,
            "batch_items_per_second": self.batch_items_per_second,
            "sequential_items_per_second": self.sequential_items_per_second,
            "constraint_channel": CONSTRAINT_CHANNEL,
            "constraint": {label: timing(value) for label, value in self.constraint.items()},
            "ratios": self.ratios(),
            "notes": self.notes,
            "load_average_before": self.load_average,
        }


def format_report(report: BenchmarkReport) -> str:
    lines = [
        f"model: {report.model}; torch threads: {report.threads} "
        f"(calls of 8+ rows: {max(report.batch_threads, report.threads)}); "
        f"max_new_tokens: {report.max_new_tokens}",
        "",
        f"{'measurement (1 item, tone bold)':<44}{'n':>5}{'p50 ms':>10}{'p95 ms':>10}{'CPU p50 ms':>12}",
    ]
    for label, timing in (
        ("raw CreativeGenerator.generate", report.raw),
        ("POST /api/v1/predict in process", report.api_in_process),
        ("POST /api/v1/predict over HTTP (gunicorn)", report.api_http),
        ("GET /health over HTTP (no model, floor)", report.http_floor),
    ):
        if timing:
            in_process = timing not in (report.api_http, report.http_floor) and timing.cpu_p50_ms is not None
            cpu = f"{timing.cpu_p50_ms:>12.1f}" if in_process else f"{'(server)':>12}"
            lines.append(
                f"{label:<44}{len(timing.samples):>5}{timing.p50_ms:>10.1f}{timing.p95_ms:>10.1f}{cpu}"
            )
    ratios = report.ratios()
    lines.append("")
    if "api_in_process_over_raw_p50" in ratios:
        lines.append(
            f"API p50 / raw p50, in process: {ratios['api_in_process_over_raw_p50']:.3f}x (target <= 1.15x)"
        )
    if "api_in_process_over_raw_cpu_p50" in ratios:
        lines.append(
            f"API CPU p50 / raw CPU p50, in process: {ratios['api_in_process_over_raw_cpu_p50']:.3f}x"
        )
    if "api_http_over_raw_p50" in ratios:
        lines.append(
            f"API p50 / raw p50, over HTTP:  {ratios['api_http_over_raw_p50']:.3f}x (target <= 1.15x)"
        )
    if report.batch_size:
        lines += [
            f"batch_predict of {report.batch_size} items: {report.batch_items_per_second:.1f} items/s",
            f"{report.batch_size} sequential predicts:     {report.sequential_items_per_second:.1f} items/s",
            f"batch throughput / sequential: {ratios['batch_over_sequential_throughput']:.2f}x "
            "(target >= 5x)",
        ]
    for size in CONSTRAINT_BATCHES:
        free, limited = report.constraint.get(f"free_{size}"), report.constraint.get(f"limited_{size}")
        if free and limited:
            lines.append(
                f"raw generate, {size} item(s), {CONSTRAINT_CHANNEL}: p50 {limited.p50_ms:.1f} ms within its "
                f"limits vs {free.p50_ms:.1f} ms without: "
                f"{ratios[f'constraint_over_free_p50_batch_{size}']:.3f}x (target <= 1.10x)"
            )
    if report.load_average:
        lines.append(
            f"load average before the run: {', '.join(f'{value:.2f}' for value in report.load_average)}"
        )
    lines += [f"note: {note}" for note in report.notes]
    return "\n".join(lines)


# --- the sandbox ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sandbox:
    workdir: Path
    artifact_root: Path
    database_url: str


def _database_url(settings_dict: dict) -> str:
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings_dict['NAME']}"
    user = settings_dict.get("USER") or ""
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    credentials = f"{user}{password}@" if user else ""
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    return f"postgres://{credentials}{settings_dict.get('HOST') or '127.0.0.1'}{port}/{settings_dict['NAME']}"


@contextmanager
def sandbox(workdir: Path) -> Iterator[Sandbox]:
    """A migrated throw-away database and isolated settings for this process; removed on exit."""
    old_name = connection.settings_dict["NAME"]
    test_settings = connection.settings_dict.setdefault("TEST", {})
    test_settings["NAME"] = (
        str(workdir / "benchmark.sqlite3")
        if connection.vendor == "sqlite"
        else f"{old_name}_benchmark_{os.getpid()}"
    )
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    artifact_root = workdir / "artifacts"
    artifact_root.mkdir()
    rates = {
        **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
        "predict": HIGH_RATE,
        "batch_predict": HIGH_RATE,
    }
    try:
        with override_settings(
            MEDIA_ROOT=artifact_root,
            CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
            REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates},
            ALLOWED_HOSTS=["testserver", "127.0.0.1", "localhost"],
            SECURE_SSL_REDIRECT=False,
        ):
            yield Sandbox(workdir, artifact_root, _database_url(connection.settings_dict))
    finally:
        from inference.services.prediction_logs import prediction_logs_stop

        prediction_logs_stop()  # its thread must not write to (or hold) the database dropped next
        connection.creation.destroy_test_db(old_name, verbosity=0, keepdb=False)


def sandbox_register(*, source: Path, name: str, version: int, preset: str, parameter_count: int | None):
    """Register the artifact folder `source` as the sandbox's production version (a link, not a copy)."""
    from django.utils import timezone

    from products.models import DatasetVersion
    from registry.models import ModelVersion
    from training.ml import sha256_of_directory
    from training.models import TrainingRun

    uri = f"models/benchmark-v{version}"
    link = Path(settings.MEDIA_ROOT) / uri
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(source.resolve(), target_is_directory=True)
    dataset = DatasetVersion.objects.create(
        number=1,
        file="datasets/benchmark.parquet",
        sha256="0" * 64,
        size_bytes=0,
        row_count=0,
        product_count=0,
    )
    run = TrainingRun.objects.create(
        dataset_version=dataset,
        preset=preset,
        status=TrainingRun.Status.SUCCEEDED,
        parameter_count=parameter_count,
    )
    return ModelVersion.objects.create(
        name=name,
        version=version,
        training_run=run,
        artifact_uri=uri,
        artifact_sha256=sha256_of_directory(link),
        status=ModelVersion.Status.PRODUCTION,
        promoted_at=timezone.now(),
    )


def sandbox_token() -> str:
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    user = get_user_model().objects.create_user("benchmark", password=None)
    return Token.objects.create(user=user).key


# --- measurements -----------------------------------------------------------------------------


def measure_interleaved(
    calls: dict[str, Callable[[], object]],
    runs: int,
    *,
    warmup: int = 3,
    tick: Callable[[], None] | None = None,
) -> dict[str, Timing]:
    """Time each call `runs` times, taking turns (a, b, c, a, b, c, ...), so that a neighbour's load
    on a shared machine weighs on every measurement alike. CPU time is this process's own (all its
    threads): unlike wall time it does not grow when other processes take the cores."""
    for _ in range(warmup):
        for call in calls.values():
            call()
    wall: dict[str, list[float]] = {label: [] for label in calls}
    cpu: dict[str, list[float]] = {label: [] for label in calls}
    for _ in range(runs):
        for label, call in calls.items():
            cpu_started, started = time.process_time(), time.perf_counter()
            call()
            wall[label].append(time.perf_counter() - started)
            cpu[label].append(time.process_time() - cpu_started)
            if tick:
                tick()
    return {label: Timing(wall[label], cpu[label]) for label in calls}


def api_call(client, path: str, payload: dict) -> dict:
    response = client.post(path, payload, format="json")
    if response.status_code != 200:
        raise RuntimeError(f"{path} answered {response.status_code}: {response.content[:300]!r}")
    return response.json()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def gunicorn_server(
    *,
    box: Sandbox,
    threads: int,
    timeout: float = 180.0,
    workers: int | None = 1,
    request_threads: int | None = 2,
    extra_environment: dict[str, str] | None = None,
) -> Iterator[int]:
    """gunicorn with the deploy config on 127.0.0.1:<free port>; stopped on exit.

    `threads`: torch threads per worker. `workers` and `request_threads` override the config's
    processes and request threads (None: the deploy config's own, as production runs it).
    """
    port = free_port()
    data_dir = box.workdir / "gunicorn-data"
    metrics_dir = box.workdir / "prometheus"
    metrics_dir.mkdir(exist_ok=True)
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "creativeops.settings",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CREATIVEOPS_SECURE_SSL_REDIRECT": "0",
        "DATABASE_URL": box.database_url,
        # The production cache when there is one (Redis), under its own key prefix so that nothing the
        # sandbox writes (throttle counters, the production-version key) reaches the real system;
        # else a file cache in the sandbox's data dir.
        "REDIS_URL": settings.REDIS_URL or "",
        "CACHE_KEY_PREFIX": f"creativeops-benchmark-{os.getpid()}",
        # A throw-away server: without Redis (or a broker) it may use the embedded defaults.
        "CREATIVEOPS_EMBEDDED": "1",
        "CELERY_BROKER_URL": "",
        "CREATIVEOPS_DATA_DIR": str(data_dir),
        "CREATIVEOPS_ARTIFACT_ROOT": str(box.artifact_root),
        "CREATIVEOPS_MODEL_NAME": settings.CREATIVEOPS["DEFAULT_MODEL_NAME"],
        "THROTTLE_PREDICT": HIGH_RATE,
        "THROTTLE_BATCH_PREDICT": HIGH_RATE,
        "TORCH_NUM_THREADS": str(threads),
        "BATCH_TORCH_THREADS": str(settings.CREATIVEOPS["BATCH_TORCH_THREADS"]),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "LOG_LEVEL": "WARNING",
        "GUNICORN_LOG_LEVEL": "warning",
        **(extra_environment or {}),
    }
    command = [
        sys.executable, "-m", "gunicorn", "creativeops.wsgi:application",
        "-c", str(Path(settings.BASE_DIR) / "deploy" / "gunicorn.conf.py"),
        "--bind", f"127.0.0.1:{port}", "--access-logfile", "/dev/null",
    ]  # fmt: skip
    if workers is not None:
        command += ["--workers", str(workers)]
    if request_threads is not None:
        command += ["--threads", str(request_threads)]
    log = (box.workdir / "gunicorn.log").open("wb")
    process = subprocess.Popen(command, env=environment, cwd=settings.BASE_DIR, stdout=log, stderr=log)
    try:
        _wait_ready(port, process, timeout, box.workdir / "gunicorn.log")
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        if settings.REDIS_URL:
            _delete_redis_keys(settings.REDIS_URL, environment["CACHE_KEY_PREFIX"])


def _delete_redis_keys(url: str, prefix: str) -> None:
    """Remove what the sandbox server left in Redis (the production-version key never expires)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def _wait_ready(
    port: int, process: subprocess.Popen, timeout: float, log_path: Path, path: str = "/ready"
) -> None:
    """Poll `path` (/ready loads the model) until it answers 200."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}: {log_path.read_text()[-2000:]}")
        try:
            status, body = http_request(port, "GET", path)
            if status == 200:
                return
            last = f"{status} {body[:200]!r}"
        except OSError as error:
            last = str(error)
        time.sleep(0.5)
    raise RuntimeError(f"the server on port {port} was not ready after {timeout:.0f} s: {last}")


def http_request(
    port: int,
    method: str,
    path: str,
    body: dict | None = None,
    token: str | None = None,
    headers: dict[str, str] | None = None,
):
    connection_ = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        headers = {"Content-Type": "application/json", **(headers or {})}
        if token:
            headers["Authorization"] = f"Token {token}"
        connection_.request(
            method, path, body=json.dumps(body) if body is not None else None, headers=headers
        )
        response = connection_.getresponse()
        return response.status, response.read()
    finally:
        connection_.close()


def http_health(port: int) -> None:
    status, body = http_request(port, "GET", "/health")
    if status != 200:
        raise RuntimeError(f"/health over HTTP answered {status}: {body[:300]!r}")


def http_predict(port: int, token: str, payload: dict) -> None:
    status, body = http_request(port, "POST", "/api/v1/predict", payload, token)
    if status != 200:
        raise RuntimeError(f"/api/v1/predict over HTTP answered {status}: {body[:300]!r}")


def temporary_workdir() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="creativeops-benchmark-")


# --- the model to measure ------------------------------------------------------------------------


def model_source(
    workdir: Path,
    threads: int,
    *,
    artifact: Path | None,
    say: Callable[[str], object],
    warn: Callable[[str], object],
    preset: str = "tiny",
) -> dict:
    """The model folder to measure: `artifact` (checksums verified), else the production artifact
    (read from the real registry), else a model of `preset` trained into `workdir` for the run."""
    if artifact is not None:
        return _artifact_source(artifact, say)
    from registry.selectors import production_version
    from training.storage import artifact_local_path

    try:
        version = production_version()
    except DatabaseError as error:  # an unmigrated laptop database: measure a freshly trained model
        warn(f"The registry could not be read ({error}); training a {preset} model instead.")
        version = None
    if version is not None:
        say(f"Using the production model {version.name} v{version.version}.")
        return {
            "path": artifact_local_path(version.artifact_uri),
            "version": version.version,
            "preset": version.training_run.preset,
            "parameter_count": version.training_run.parameter_count,
            "label": f"{version.name} v{version.version} (production)",
        }
    return _trained_source(workdir, threads, preset, say)


def _artifact_source(folder: Path, say: Callable[[str], object]) -> dict:
    from training.ml import ArtifactIntegrityError, verify_artifact

    try:
        manifest = verify_artifact(folder)
    except ArtifactIntegrityError as error:
        raise CommandError(f"--artifact: {error}")
    say(f"Using the model folder {folder} (preset {manifest.get('preset')}).")
    parameters = manifest.get("parameter_count") or 0
    return {
        "path": folder,
        "version": 1,
        "preset": manifest.get("preset") or "custom",
        "parameter_count": manifest.get("parameter_count"),
        "label": f"{folder.name} ({manifest.get('preset')}, {parameters:,} parameters)",
    }


def _trained_source(workdir: Path, threads: int, preset: str, say: Callable[[str], object]) -> dict:
    from tqdm import tqdm

    from products.services import generated_catalog_frame
    from training.ml import TrainingConfig, train_model

    say(f"No model in production: training a {preset} one into a temporary folder.")
    output = workdir / f"{preset}-model"
    with tqdm(desc=f"train {preset}", unit="step") as bar:

        def progress(step: int, total_steps: int, epoch: int, metrics: dict | None) -> None:
            bar.total = total_steps
            bar.n = step
            bar.refresh()

        result = train_model(
            generated_catalog_frame(120, seed=3),
            TrainingConfig.from_preset(preset, num_threads=threads),
            output,
            progress_callback=progress,
        )
    return {
        "path": output,
        "version": 1,
        "preset": preset,
        "parameter_count": result.metrics.get("parameter_count"),
        "label": f"{preset} model trained for this benchmark",
    }
