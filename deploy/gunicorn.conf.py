"""Gunicorn settings for the CreativeOps web process.

Sized for CPU inference on a 2-core box: each worker process holds its own copy of the production
model in memory and runs generation on the CPU, so processes, threads and torch's intra-op threads
are chosen together so that their product does not oversubscribe the cores.
Every number can be overridden from the environment without rebuilding the image.
"""

from __future__ import annotations

import os
from pathlib import Path

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"

# One process per pod: it holds the model once and batches every concurrent prediction of the pod
# (inference/batching.py) with TORCH_NUM_THREADS=2 intra-op threads, one per core. Measured on 2 cores
# against two processes of one thread each, it batches twice as many rows per generation and
# answered 16 concurrent clients at 3.45x MLflow's req/s where two processes reached 1.5-1.6x (see
# deploy/README-deploy.md). Scale out with pods.
workers = int(os.environ.get("GUNICORN_WORKERS", "1"))

# gthread with 64 threads: concurrent predictions of a process wait together in its dynamic batcher
# (inference/batching.py, BATCH_MAX_ROWS / BATCH_WAIT_MS) and are generated in one batched call, so a
# worker needs as many request threads as rows it should batch; one thread at a time generates (for
# all of them), so the threads add no CPU contention, and /health, /ready and /metrics are never stuck
# behind a generation. Each thread may hold a database connection (DATABASE_CONN_MAX_AGE): a pod
# opens at most workers x threads of them. Why in-process batching: deploy/README-deploy.md.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "64"))

# A batch prediction on the CPU can take tens of seconds; 60 s kills only a worker that is truly stuck
# (gthread workers heartbeat from their main loop, not from the request threads).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
# Shorter than the pod's terminationGracePeriodSeconds (45 s): in-flight requests finish on SIGTERM
# before the kubelet sends SIGKILL.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5

# Not preloaded: importing the app in the master would start torch's OpenMP/intra-op thread pool
# before fork, and a forked child inherits a pool whose threads do not exist, which deadlocks or runs
# single-threaded. Each worker imports Django (and loads the model) itself after the fork instead.
preload_app = False

# Recycling a worker reloads the model (seconds of CPU and a memory spike), so it is off by default;
# set GUNICORN_MAX_REQUESTS only to contain a leak while it is being fixed.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10

# Heartbeat files on tmpfs: on a disk-backed /tmp a slow fsync can make a healthy worker look dead.
# (gunicorn creates them with mkstemp, so the shared directory is not a predictable-name risk.)
_SHM = "/dev/shm"  # noqa: S108
worker_tmp_dir = _SHM if os.path.isdir(_SHM) else None

# Gunicorn >= 24 opens a control socket under $HOME by default; the root filesystem is read-only in
# Kubernetes and nothing here uses gunicornc, so it stays off (older versions ignore the setting).
control_socket_disable = True

# Logs go to stdout/stderr for the container runtime to collect.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")


def _multiproc_dir() -> Path | None:
    value = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
    return Path(value) if value else None


def on_starting(server):
    """Start every master with an empty metrics directory.

    prometheus_client's multiprocess mode sums the *.db files of all processes that ever wrote there;
    files left by a previous master (a container restart keeps an emptyDir) would count dead processes'
    counters again. The directory itself may be a mount point, so its contents are removed, not it.
    """
    directory = _multiproc_dir()
    if directory is None:
        return
    directory.mkdir(parents=True, exist_ok=True)
    for entry in directory.iterdir():
        if entry.is_file() or entry.is_symlink():
            entry.unlink()


def post_fork(server, worker):
    """Give each worker a bounded torch thread pool.

    torch defaults to one intra-op thread per core; with two workers on two cores that is four busy
    threads fighting for two cores. One thread per worker (TORCH_NUM_THREADS) keeps them from
    oversubscribing. torch is imported here, after the fork, never in the master.
    """
    import torch

    torch.set_num_threads(int(os.environ.get("TORCH_NUM_THREADS", "2")))


def post_worker_init(worker):
    """With CREATIVEOPS_PRELOAD_MODEL=1, load the production model before taking traffic.

    Done per worker after the app is imported (never in the master), so the first request does not
    pay for the load and /ready turns green as soon as the model is in memory.
    """
    from inference.model_manager import preload_models

    preload_models()


def worker_exit(server, worker):
    """Wait until the worker's batcher queue is empty: requests queued are answered before it ends.

    On SIGTERM gunicorn stops accepting and lets the requests in flight finish (graceful_timeout); they
    generate the queue themselves (inference/batching.py), and this hook runs last.
    """
    from inference.batching import batchers_stop

    batchers_stop()


def child_exit(server, worker):
    """Drop a dead worker's live gauges from the aggregated /metrics output."""
    if _multiproc_dir() is None:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
