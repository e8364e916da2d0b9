"""Reads of pipeline runs for the admin, the CLI and the API."""

from __future__ import annotations

from creativeops.pipeline.models import PipelineRun

FINISHED_STATUSES = (PipelineRun.Status.SUCCEEDED, PipelineRun.Status.FAILED, PipelineRun.Status.SKIPPED)


def pipeline_run_progress(run: PipelineRun) -> dict:
    """Step, steps done, overall percent, and the training's own progress while it trains."""
    done = sum(1 for step in run.STEPS if run.steps.get(step, {}).get("status") == "succeeded")
    total = len(run.STEPS)
    percent = 100.0 * done / total
    progress = {"step": run.current_step, "steps_done": done, "steps_total": total}
    if run.training_run_id:
        training_run = run.training_run
        progress.update(
            training_status=training_run.status,
            training_percent=training_run.progress_percent,
            training_eta_seconds=training_run.eta_seconds,
        )
        if training_run.status == "running":
            percent += training_run.progress_percent / total
    progress["percent"] = round(min(percent, 100.0), 1)
    return progress
