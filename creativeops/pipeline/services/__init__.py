"""The nightly chain, one run at a time per model:
generate → snapshot → train → verify_artifact → score_and_register.

Concurrency design
------------------
* The lock is the database: a partial unique index allows one `queued`/`running` PipelineRun per
  model name. `pipeline_start` inserts the run in that state; a second start at the same moment hits
  the index and is recorded as `skipped`, naming the run that holds the lock. It is neither queued
  behind it nor run twice. The same works on SQLite (the laptop default) and PostgreSQL.
* The lock has a lease (`lease_expires_at`, STALE_RUN_MINUTES long), renewed by a heartbeat thread
  while any step works. A worker killed with SIGKILL renews nothing: the reaper
  (`pipeline_runs_reap_stale`, every minute from beat, and before every start) marks the run failed
  once the lease has run out, which releases the lock.
* Every step is idempotent: it records its output on the run (dataset version, training run, model
  version) and a step delivered twice finds the output there and creates nothing new.

`start` holds the entry point, `steps` the five steps, `reaper` the lease expiry.
"""

from creativeops.pipeline.services.reaper import lease_duration, pipeline_run_fail, pipeline_runs_reap_stale
from creativeops.pipeline.services.start import (
    ACTIVE_STATUSES,
    DEFAULT_OPTIONS,
    new_products_limit,
    pipeline_chain,
    pipeline_options_clean,
    pipeline_start,
    pipeline_start_scheduled,
)
from creativeops.pipeline.services.steps import pipeline_step_run, pipeline_step_succeeded

__all__ = [
    "ACTIVE_STATUSES",
    "DEFAULT_OPTIONS",
    "lease_duration",
    "new_products_limit",
    "pipeline_chain",
    "pipeline_options_clean",
    "pipeline_run_fail",
    "pipeline_runs_reap_stale",
    "pipeline_start",
    "pipeline_start_scheduled",
    "pipeline_step_run",
    "pipeline_step_succeeded",
]
