"""Measure serving overhead and batching gain on one model with the same inputs (see inference.benchmark)."""

from __future__ import annotations

import contextlib
import json
import os
import statistics
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from rest_framework.test import APIClient
from tqdm import tqdm

from inference import benchmark
from inference.model_manager import ModelManager, model_get

BATCH_ROUNDS = 5


class Command(BaseCommand):
    help = (
        "Benchmark inference: raw CreativeGenerator.generate vs POST /api/v1/predict in process and over "
        "HTTP (a gunicorn it starts on 127.0.0.1), and batch_predict vs sequential predicts. Runs against a "
        "throw-away database; uses the production model's artifact, or trains a tiny model when none exists."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--requests", type=int, default=30, help="timed calls per latency measurement (5-500)"
        )
        parser.add_argument("--batch-size", type=int, default=32, help="items of the batch comparison (2-64)")
        parser.add_argument("--max-new-tokens", type=int, default=64)
        parser.add_argument(
            "--threads",
            type=int,
            default=1,
            help="torch threads of every call; calls of 8+ rows use BATCH_TORCH_THREADS if higher",
        )
        parser.add_argument("--skip-http", action="store_true", help="do not start gunicorn")
        parser.add_argument(
            "--artifact",
            type=Path,
            help="measure this model folder (checksums verified) instead of the production model",
        )
        parser.add_argument(
            "--json", dest="json_path", type=Path, help="also write the figures to this JSON file"
        )

    def handle(
        self, *args, requests, batch_size, max_new_tokens, threads, skip_http, json_path, artifact, **options
    ):
        if not 5 <= requests <= 500:
            raise CommandError("--requests must be from 5 to 500.")
        if not 2 <= batch_size <= settings.CREATIVEOPS["PREDICT_MAX_BATCH"]:
            raise CommandError(f"--batch-size must be from 2 to {settings.CREATIVEOPS['PREDICT_MAX_BATCH']}.")
        import torch

        torch.set_num_threads(threads)
        with benchmark.temporary_workdir() as workdir_name:
            workdir = Path(workdir_name)
            source = benchmark.model_source(
                workdir, threads, artifact=artifact, say=self.stdout.write, warn=self.stderr.write
            )
            report = self._run(workdir, source, requests, batch_size, max_new_tokens, threads, skip_http)
        self.stdout.write(benchmark.format_report(report))
        if json_path:
            json_path.write_text(json.dumps(report.as_dict(), indent=2, sort_keys=True) + "\n")

    def _run(self, workdir, source, requests, batch_size, max_new_tokens, threads, skip_http):
        report = benchmark.BenchmarkReport(
            model=source["label"],
            threads=threads,
            max_new_tokens=max_new_tokens,
            batch_threads=int(settings.CREATIVEOPS["BATCH_TORCH_THREADS"]),
            load_average=os.getloadavg(),
        )
        with benchmark.sandbox(workdir) as box:
            benchmark.sandbox_register(
                source=source["path"],
                name=settings.CREATIVEOPS["DEFAULT_MODEL_NAME"],
                version=source["version"],
                preset=source["preset"],
                parameter_count=source["parameter_count"],
            )
            token = benchmark.sandbox_token()
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
            with contextlib.ExitStack() as stack:
                port = None
                if not skip_http:
                    self.stdout.write(
                        "Starting gunicorn on 127.0.0.1 (deploy/gunicorn.conf.py, one worker)..."
                    )
                    port = stack.enter_context(benchmark.gunicorn_server(box=box, threads=threads))
                self._latency(report, client, token, port, requests, max_new_tokens)
                self._batch(report, client, batch_size, max_new_tokens)
                self._constraint(report, requests, max_new_tokens)
        ModelManager.reset_all()
        return report

    def _latency(self, report, client, token, port, requests, max_new_tokens) -> None:
        """The same item through the model alone, the Django stack in process and gunicorn, in turns."""
        item = benchmark.benchmark_items(1)[0]
        payload = {**item, "tone": benchmark.BENCHMARK_TONE, "max_new_tokens": max_new_tokens}
        generator = model_get().generator
        calls = {
            "raw": lambda: generator.generate(
                [item], tone=benchmark.BENCHMARK_TONE, max_new_tokens=max_new_tokens
            ),
            "api_in_process": lambda: benchmark.api_call(client, "/api/v1/predict", payload),
        }
        if port is not None:
            calls["api_http"] = lambda: benchmark.http_predict(port, token, payload)
            calls["http_floor"] = lambda: benchmark.http_health(port)
        with tqdm(total=requests * len(calls), desc="latency", unit="call") as bar:
            timings = benchmark.measure_interleaved(calls, requests, tick=bar.update)
        report.raw, report.api_in_process = timings["raw"], timings["api_in_process"]
        report.api_http, report.http_floor = timings.get("api_http"), timings.get("http_floor")

    def _constraint(self, report, requests, max_new_tokens) -> None:
        """Raw generation for one channel on the same items, within its limits (the character budget,
        training/ml/budget.py) and without (`limits={}`: the same prompt, no budget), in turns; at
        batch 1 with `requests` calls and at batch 32 with BATCH_ROUNDS."""
        generator = model_get().generator
        channel = benchmark.CONSTRAINT_CHANNEL
        for size in benchmark.CONSTRAINT_BATCHES:
            items = benchmark.benchmark_items(size)
            options = {"tone": benchmark.BENCHMARK_TONE, "max_new_tokens": max_new_tokens, "channel": channel}
            calls = {
                f"free_{size}": lambda items=items, options=options: generator.generate(
                    items, limits={}, **options
                ),
                f"limited_{size}": lambda items=items, options=options: generator.generate(items, **options),
            }
            runs = requests if size == 1 else BATCH_ROUNDS
            with tqdm(total=2 * runs, desc=f"{channel} limits, batch {size}", unit="call") as bar:
                report.constraint.update(benchmark.measure_interleaved(calls, runs, tick=bar.update))

    def _batch(self, report, client, batch_size, max_new_tokens) -> None:
        """One batch_predict of `batch_size` items against the same items as separate predicts, in turns."""
        items = benchmark.benchmark_items(batch_size)
        options = {"tone": benchmark.BENCHMARK_TONE, "max_new_tokens": max_new_tokens}
        calls = {
            "batch": lambda: benchmark.api_call(client, "/api/v1/batch_predict", {"items": items, **options}),
            "sequential": lambda: [
                benchmark.api_call(client, "/api/v1/predict", {**item, **options}) for item in items
            ],
        }
        with tqdm(total=2 * BATCH_ROUNDS, desc=f"batch of {batch_size} vs sequential", unit="round") as bar:
            timings = benchmark.measure_interleaved(calls, BATCH_ROUNDS, warmup=1, tick=bar.update)
        report.batch_size = batch_size
        report.batch_items_per_second = batch_size / statistics.median(timings["batch"].samples)
        report.sequential_items_per_second = batch_size / statistics.median(timings["sequential"].samples)
