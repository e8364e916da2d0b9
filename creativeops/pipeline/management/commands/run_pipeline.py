"""Start the generate → snapshot → train → evaluate → register chain, as beat and the admin do."""

from __future__ import annotations

import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from creativeops.core.errors import ApplicationError
from creativeops.pipeline.models import PipelineRun
from creativeops.pipeline.services import pipeline_run_progress, pipeline_start

FINISHED = {PipelineRun.Status.SUCCEEDED, PipelineRun.Status.FAILED, PipelineRun.Status.SKIPPED}


class Command(BaseCommand):
    help = "Run the pipeline once. Without a broker it runs in this process; with one, on the workers."

    def add_arguments(self, parser):
        parser.add_argument("--preset", default="small")
        parser.add_argument("--new-products", type=int, default=0, help="Synthetic products to add first.")
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument("--model-name", default=None)
        parser.add_argument("--wait", action="store_true", help="Show progress until the run ends.")

    def handle(self, *args, preset, new_products, seed, model_name, wait, **options):
        run_options = {"preset": preset, "new_products": new_products, "seed": seed}
        eager = settings.CELERY_TASK_ALWAYS_EAGER
        watcher = None
        if eager and wait:
            # In process the chain runs inside pipeline_start's commit; a thread draws the progress.
            watcher = _ProgressWatcher(self)
            watcher.start()
        try:
            run = pipeline_start(
                trigger=PipelineRun.Trigger.MANUAL, options=run_options, model_name=model_name
            )
        except ApplicationError as error:
            raise CommandError(error.message)
        finally:
            if watcher:
                watcher.stop()
        if watcher is None and wait:
            _poll_until_done(self, run.pk)
        run.refresh_from_db()
        self._report(run)
        if run.status == PipelineRun.Status.FAILED:
            raise CommandError(f"Pipeline run #{run.pk} failed: {run.error}")

    def _report(self, run: PipelineRun) -> None:
        self.stdout.write(f"Pipeline run #{run.pk}: {run.status}")
        if run.status == PipelineRun.Status.SKIPPED:
            self.stdout.write(self.style.WARNING(run.error))
            return
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


class _ProgressWatcher(threading.Thread):
    """Polls the newest run's row and draws a bar; the database is the only thing both sides share."""

    def __init__(self, command: BaseCommand):
        super().__init__(daemon=True)
        self.command = command
        self._stop = threading.Event()

    def run(self) -> None:
        from django.db import connection

        bar = tqdm(total=100, unit="%", desc="pipeline", file=self.command.stdout._out)
        try:
            while not self._stop.wait(1.0):
                run = PipelineRun.objects.order_by("-pk").select_related("training_run").first()
                if run is not None:
                    _update_bar(bar, run)
        finally:
            bar.close()
            connection.close()

    def stop(self) -> None:
        self._stop.set()
        self.join(timeout=5)


def _update_bar(bar: tqdm, run: PipelineRun) -> None:
    progress = pipeline_run_progress(run)
    step_share = 100 / progress["steps_total"]
    percent = progress["steps_done"] * step_share
    if progress.get("training_status") == "running":
        percent += step_share * (progress.get("training_percent") or 0) / 100
    bar.n = round(min(percent, 100), 1)
    eta = progress.get("training_eta_seconds")
    bar.set_postfix_str(f"{progress['step'] or 'queued'}" + (f", training ETA {eta:.0f}s" if eta else ""))
    bar.refresh()


def _poll_until_done(command: BaseCommand, run_id: int) -> None:
    bar = tqdm(total=100, unit="%", desc="pipeline", file=command.stdout._out)
    try:
        while True:
            run = PipelineRun.objects.select_related("training_run").get(pk=run_id)
            _update_bar(bar, run)
            if run.status in FINISHED:
                return
            time.sleep(2)
    finally:
        bar.close()
