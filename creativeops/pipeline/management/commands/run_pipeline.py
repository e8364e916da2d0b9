"""Run the pipeline chain once (generate → snapshot → train → verify_artifact → score_and_register)."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection, connections
from tqdm import tqdm

from creativeops.core.errors import ApplicationError
from creativeops.core.progress import eta_postfix, progress_bar
from creativeops.pipeline.models import PipelineRun
from creativeops.pipeline.selectors import FINISHED_STATUSES, pipeline_run_progress
from creativeops.pipeline.services import pipeline_start

POLL_SECONDS = 1.0


class Command(BaseCommand):
    help = (
        "Run the pipeline once. Without a broker it runs in this process (with a progress bar); with one, "
        "on the workers (--wait follows it)."
    )

    def add_arguments(self, parser):
        from training.ml import PRESETS

        parser.add_argument("--preset", default="small", choices=list(PRESETS))
        parser.add_argument("--new-products", type=int, default=0, help="Synthetic products to add first.")
        parser.add_argument(
            "--seed", type=int, default=None, help="Seed of the new products (default: random)."
        )
        parser.add_argument(
            "--hyperparameters",
            default=None,
            help="JSON object laid over the preset, e.g. '{\"epochs\": 3}'.",
        )
        parser.add_argument("--model-name", default=None)
        parser.add_argument(
            "--wait", action="store_true", help="With a broker: follow the run until it ends."
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=None,
            help="With --wait: give up waiting after this many seconds.",
        )

    def handle(
        self, *args, preset, new_products, seed, hyperparameters, model_name, wait, timeout, **options
    ):
        from creativeops.celery import app

        run_options = {"preset": preset, "new_products": new_products, "seed": seed}
        if hyperparameters:
            try:
                run_options["hyperparameters"] = json.loads(hyperparameters)
            except json.JSONDecodeError as error:
                raise CommandError(f"--hyperparameters is not valid JSON: {error}.")
        eager = app.conf.task_always_eager
        watcher = _ProgressWatcher(self) if eager and _pollable_from_a_thread() else None
        if watcher:
            watcher.start()
        try:
            with _sigterm_as_exit(eager):
                # Eager: the whole chain runs inside this call, after the run's row commits.
                run = pipeline_start(
                    trigger=PipelineRun.Trigger.MANUAL, options=run_options, model_name=model_name
                )
        except ApplicationError as error:
            raise CommandError(error.message)
        finally:
            if watcher:
                watcher.stop()
        if not eager and wait and run.status not in FINISHED_STATUSES:
            _poll_until_done(self, run.pk, timeout)
        run.refresh_from_db()
        self._report(run)
        if run.status == PipelineRun.Status.FAILED:
            raise CommandError(f"Pipeline run #{run.pk} failed: {run.error}")

    def _report(self, run: PipelineRun) -> None:
        style = {
            PipelineRun.Status.SUCCEEDED: self.style.SUCCESS,
            PipelineRun.Status.FAILED: self.style.ERROR,
            PipelineRun.Status.SKIPPED: self.style.WARNING,
        }.get(run.status, str)
        self.stdout.write(style(f"Pipeline run #{run.pk}: {run.status}"))
        if run.status == PipelineRun.Status.SKIPPED:
            self.stdout.write(self.style.WARNING(run.error))
            return
        if run.started_at and run.finished_at:
            self.stdout.write(
                f"  duration:        {(run.finished_at - run.started_at).total_seconds():.0f} s"
            )
        if run.generated_products:
            self.stdout.write(f"  new products:    {run.generated_products:,}")
        if run.dataset_version_id:
            self.stdout.write(f"  dataset version: v{run.dataset_version.number}")
        if run.training_run_id:
            self.stdout.write(f"  training run:    #{run.training_run_id} ({run.training_run.status})")
        if run.model_version_id:
            version = run.model_version
            self.stdout.write(f"  model version:   {version.name} v{version.version} → {version.status}")
            self.stdout.write(f"  gate:            {run.gate_reason}")
        if run.status in (PipelineRun.Status.QUEUED, PipelineRun.Status.RUNNING):
            self.stdout.write("  (running on the workers; follow it in the admin or with --wait)")


@contextlib.contextmanager
def _sigterm_as_exit(enabled: bool):
    """In process, `kill`/`timeout` end the run as failed (like Ctrl-C) instead of leaving it to the
    reaper: SIGTERM becomes SystemExit, which the in-process chain records before it propagates."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return

    def exit_on_sigterm(signum, frame):
        sys.exit(128 + signum)

    previous = signal.signal(signal.SIGTERM, exit_on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _pollable_from_a_thread() -> bool:
    """An in-memory SQLite database (the test suite's) cannot be read from a second connection while
    this one writes without making the writer fail, so no progress thread there."""
    return not (connection.vendor == "sqlite" and connection.is_in_memory_db())


def _pipeline_bar(stream) -> tqdm:
    return progress_bar(total=100, desc="pipeline", file=stream)


def _update_bar(bar: tqdm, run: PipelineRun) -> None:
    """Percent of the run, its step, and while it trains the training's ETA: the one ETA on the line
    (the same figure as the admin's; tqdm's own estimate is left out, see creativeops.core.progress)."""
    progress = pipeline_run_progress(run)
    bar.n = progress["percent"]
    eta = progress.get("training_eta_seconds") if progress.get("training_status") == "running" else None
    # No current step: the run is still queued, or it has ended (then its status, not "queued").
    step = progress["step"] or run.status
    bar.set_postfix_str(eta_postfix(step, eta, eta_label="training ETA"), refresh=False)
    bar.refresh()


class _ProgressWatcher(threading.Thread):
    """Eager mode: the chain runs in the main thread; this one polls the newest run's row and draws a bar
    (the database is the only thing both sides share)."""

    def __init__(self, command: BaseCommand):
        super().__init__(name="pipeline-progress", daemon=True)
        self.command = command
        self._stopped = threading.Event()
        self._first_id = (PipelineRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1

    def run(self) -> None:
        bar = _pipeline_bar(self.command.stdout._out)
        try:
            while not self._stopped.wait(POLL_SECONDS):
                try:
                    run = (
                        PipelineRun.objects.filter(pk__gte=self._first_id)
                        .select_related("training_run")
                        .order_by("pk")
                        .first()
                    )
                except DatabaseError:
                    continue  # a busy database: the next poll draws it
                if run is not None:
                    _update_bar(bar, run)
        finally:
            bar.close()
            connections.close_all()  # this thread's own connections

    def stop(self) -> None:
        self._stopped.set()
        self.join(timeout=5)


def _poll_until_done(command: BaseCommand, run_id: int, timeout: float | None) -> None:
    deadline = None if timeout is None else time.monotonic() + timeout
    bar = _pipeline_bar(command.stdout._out)
    try:
        while True:
            run = PipelineRun.objects.select_related("training_run").get(pk=run_id)
            _update_bar(bar, run)
            if run.status in FINISHED_STATUSES:
                return
            if deadline is not None and time.monotonic() >= deadline:
                raise CommandError(
                    f"Pipeline run #{run_id} is still {run.status} after {timeout:g} s; "
                    "it goes on on the workers."
                )
            time.sleep(POLL_SECONDS * 2)
    finally:
        bar.close()
