"""deploy/gunicorn.conf.py: its settings, its hooks, and a real gunicorn started with it."""

from __future__ import annotations

import os
import runpy
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from types import SimpleNamespace

import pytest

from tests.deploy.helpers import DEPLOY, REPO, find_tool

CONFIG = DEPLOY / "gunicorn.conf.py"


def load_config(monkeypatch, **env: str) -> dict:
    for name in ("GUNICORN_WORKERS", "GUNICORN_THREADS", "GUNICORN_TIMEOUT", "PROMETHEUS_MULTIPROC_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(CONFIG))


def test_defaults_for_cpu_inference_on_two_cores(monkeypatch):
    config = load_config(monkeypatch)
    assert config["workers"] == 1  # one batching process per pod (deploy/README-deploy.md)
    assert config["worker_class"] == "gthread"
    assert config["threads"] == 64  # enough requests per process to fill a batch (inference/batching.py)
    assert config["timeout"] == 60
    assert config["preload_app"] is False
    assert config["bind"] == "0.0.0.0:8000"


def test_environment_overrides(monkeypatch):
    config = load_config(monkeypatch, GUNICORN_WORKERS="4", GUNICORN_THREADS="1", GUNICORN_TIMEOUT="90")
    assert (config["workers"], config["threads"], config["timeout"]) == (4, 1, 90)


def test_on_starting_empties_the_metrics_directory(monkeypatch, tmp_path):
    directory = tmp_path / "multiproc"
    directory.mkdir()
    (directory / "counter_12345.db").write_bytes(b"stale")
    config = load_config(monkeypatch, PROMETHEUS_MULTIPROC_DIR=str(directory))
    config["on_starting"](None)
    assert directory.is_dir() and list(directory.iterdir()) == []

    missing = tmp_path / "created"
    config = load_config(monkeypatch, PROMETHEUS_MULTIPROC_DIR=str(missing))
    config["on_starting"](None)
    assert missing.is_dir()


def test_child_exit_marks_the_worker_dead(monkeypatch, tmp_path):
    directory = tmp_path / "multiproc"
    directory.mkdir()
    live = directory / "gauge_livesum_4242.db"
    live.write_bytes(b"")
    other = directory / "gauge_livesum_4343.db"
    other.write_bytes(b"")
    config = load_config(monkeypatch, PROMETHEUS_MULTIPROC_DIR=str(directory))
    config["child_exit"](None, SimpleNamespace(pid=4242))
    assert not live.exists()
    assert other.exists()


def test_child_exit_without_multiprocess_metrics_does_nothing(monkeypatch):
    config = load_config(monkeypatch)
    config["child_exit"](None, SimpleNamespace(pid=4242))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.timeout(120)
def test_real_gunicorn_runs_the_hooks(tmp_path):
    """gunicorn starts with this file, empties the metrics directory and sets torch's thread count in the
    worker (3 here, a value that is nobody's default)."""
    gunicorn = find_tool("gunicorn")
    assert gunicorn, "gunicorn not installed"
    directory = tmp_path / "multiproc"
    directory.mkdir()
    (directory / "counter_999999.db").write_bytes(b"stale")
    port = free_port()
    env = {
        **os.environ,
        "GUNICORN_WORKERS": "1",
        "TORCH_NUM_THREADS": "3",
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
        "PYTHONPATH": str(REPO),
    }
    process = subprocess.Popen(
        [gunicorn, "-c", str(CONFIG), "--bind", f"127.0.0.1:{port}", "tests.deploy.wsgi_stub:app"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        body = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    body = response.read().decode()
                break
            except OSError:
                time.sleep(0.5)
        assert process.poll() is None, "gunicorn exited"
        assert body == "3"
        assert not (directory / "counter_999999.db").exists()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        sys.stdout.write(output)
    assert process.returncode == 0, output
