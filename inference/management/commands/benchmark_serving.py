"""Our gunicorn against `mlflow models serve` on one model under closed-loop load (see serving_benchmark)."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from inference import benchmark, experiment_benchmark, serving_benchmark
from inference.services import model_version_export_pyfunc

MAX_CLIENTS = 256
WARMUP_SECONDS = 3.0


def _client_counts(value: str) -> list[int]:
    try:
        counts = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise CommandError(f"--clients must be comma-separated integers, got {value!r}.")
    if not counts or not all(1 <= count <= MAX_CLIENTS for count in counts):
        raise CommandError(f"--clients: each count must be from 1 to {MAX_CLIENTS}, got {value!r}.")
    return counts


class Command(BaseCommand):
    help = (
        "Serve one model with our gunicorn (deploy/gunicorn.conf.py, dynamic batching) and with "
        "`mlflow models serve --env-manager local` of its pyfunc export (--workers processes), both on "
        "127.0.0.1, and drive each with the same closed-loop clients on the same catalog items: req/s, "
        "p50/p95/p99 and errors of each, and the ratios. Runs against a throw-away database; uses the "
        "production model's artifact (or --artifact), else trains a model of --train-preset."
    )

    def add_arguments(self, parser):
        parser.add_argument("--clients", default="1,4,16,64", help="client counts, comma-separated")
        parser.add_argument("--seconds", type=float, default=20.0, help="seconds per client count and server")
        parser.add_argument(
            "--slices",
            type=int,
            default=4,
            help="the --seconds of each server are run in this many turns, ours and MLflow alternating",
        )
        parser.add_argument(
            "--items", type=int, default=300, help="distinct catalog products the clients send"
        )
        parser.add_argument("--max-new-tokens", type=int, default=64)
        parser.add_argument(
            "--workers",
            type=int,
            default=2,
            help="MLflow's worker processes (mlflow models serve -w), one torch thread each; ours runs "
            "the deploy configuration (GUNICORN_WORKERS, GUNICORN_THREADS of deploy/gunicorn.conf.py)",
        )
        parser.add_argument(
            "--threads",
            type=int,
            default=2,
            help="torch threads of each of our worker processes (TORCH_NUM_THREADS; the web Deployment's 2)",
        )
        parser.add_argument(
            "--env",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="an environment variable of our gunicorn (e.g. GUNICORN_THREADS=32, BATCH_MAX_ROWS=0)",
        )
        parser.add_argument("--artifact", type=Path, help="measure this model folder instead of production's")
        parser.add_argument("--train-preset", default="tiny", help="preset to train when there is no model")
        parser.add_argument("--json", dest="json_path", type=Path, help="also write the figures to this file")
        parser.add_argument(
            "--experiments",
            action="store_true",
            help="instead of MLflow: predict latency of our server with no experiment, a --percent shadow "
            "and a --percent canary of the same model pair, in alternating turns "
            "(inference/experiment_benchmark.py)",
        )
        parser.add_argument(
            "--percent", type=int, default=10, help="the experiments' share (1-50), with --experiments"
        )

    def handle(self, *args, **options):
        counts = _client_counts(options["clients"])
        if not 1 <= options["seconds"] <= 600:
            raise CommandError("--seconds must be from 1 to 600.")
        if not 1 <= options["slices"] <= 20:
            raise CommandError("--slices must be from 1 to 20.")
        if not 1 <= options["items"] <= 10_000:
            raise CommandError("--items must be from 1 to 10000.")
        if not 1 <= options["percent"] <= 50:
            raise CommandError("--percent must be from 1 to 50 (a canary answers at most half the clients).")
        if not 1 <= options["workers"] <= 16:
            raise CommandError("--workers must be from 1 to 16.")
        environment = {}
        for assignment in options["env"]:
            name, equals, value = assignment.partition("=")
            if not equals or not name:
                raise CommandError(f"--env takes NAME=VALUE, got {assignment!r}.")
            environment[name] = value
        # Ours runs the deploy configuration's processes and threads unless --env changes them.
        environment.setdefault("CREATIVEOPS_PRELOAD_MODEL", "1")  # as deployed: every worker loads at start
        with benchmark.temporary_workdir() as workdir_name:
            workdir = Path(workdir_name)
            source = benchmark.model_source(
                workdir,
                options["threads"],
                artifact=options["artifact"],
                say=self.stdout.write,
                warn=self.stderr.write,
                preset=options["train_preset"],
            )
            run = self._run_experiments if options["experiments"] else self._run
            report = run(workdir, source, counts, environment, options)
        if options["json_path"]:
            options["json_path"].write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")

    def _run(self, workdir: Path, source: dict, counts: list[int], environment: dict, options) -> dict:
        items = benchmark.benchmark_items(options["items"])
        tone, max_new_tokens = benchmark.BENCHMARK_TONE, options["max_new_tokens"]
        with benchmark.sandbox(workdir) as box:
            version = _register_production(source)
            token = benchmark.sandbox_token()
            export = model_version_export_pyfunc(version=version, directory=workdir / "pyfunc")
            shape = _our_shape(environment, options["threads"])
            self.stdout.write(
                f"Starting our gunicorn ({shape}) and `mlflow models serve -w {options['workers']}` "
                f"(1 torch thread per worker) of {export.name}/ on 127.0.0.1 ..."
            )
            with (
                benchmark.gunicorn_server(
                    box=box,
                    threads=options["threads"],
                    workers=None,
                    request_threads=None,
                    extra_environment=environment,
                ) as ours_port,
                serving_benchmark.mlflow_server(
                    export=export,
                    workers=options["workers"],
                    torch_threads=1,  # one process per core, as `-w 2` on 2 cores is meant
                    workdir=workdir,
                ) as mlflow_port,
            ):
                ours = serving_benchmark.ours_endpoint(
                    ours_port, token, tone=tone, max_new_tokens=max_new_tokens
                )
                theirs = serving_benchmark.mlflow_endpoint(
                    mlflow_port, tone=tone, max_new_tokens=max_new_tokens
                )
                same = serving_benchmark.first_creative(ours, items[0]) == serving_benchmark.first_creative(
                    theirs, items[0]
                )
                for endpoint in (ours, theirs):  # warm every worker (first calls, allocator) before timing
                    serving_benchmark.closed_loop(endpoint, clients=4, seconds=WARMUP_SECONDS, items=items)
                load_before = _uptime()
                rows = []
                for clients in counts:
                    pair = serving_benchmark.interleaved(
                        (ours, theirs),
                        clients=clients,
                        seconds=options["seconds"],
                        slices=options["slices"],
                        items=items,
                    )
                    rows.append(pair)
                    self.stdout.write(
                        f"{clients:>3} clients: ours {pair[0].requests_per_second:.1f} req/s, "
                        f"MLflow {pair[1].requests_per_second:.1f} req/s"
                    )
                load_after = _uptime()
            if any(result.errors for pair in rows for result in pair):
                for log in ("gunicorn.log", "mlflow-serve.log"):
                    lines = (workdir / log).read_text(errors="replace").splitlines()
                    self.stderr.write(f"--- last lines of {log} ---\n" + "\n".join(lines[-40:]))
        self.stdout.write(
            f"\nModel: {source['label']}; {len(items)} catalog items, tone {tone}, max_new_tokens "
            f"{max_new_tokens}, {options['seconds']:g} s per client count and server in {options['slices']} "
            f"alternating turns.\nOurs: {shape}. MLflow: -w {options['workers']}, 1 torch thread per worker."
            + f"\nSame first answer from both servers: {'yes' if same else 'NO'}.\n"
            f"Load before: {load_before}\nLoad after:  {load_after}\n\n"
            + serving_benchmark.format_table(rows)
        )
        return {
            "model": source["label"],
            "items": len(items),
            "max_new_tokens": max_new_tokens,
            "seconds": options["seconds"],
            "slices": options["slices"],
            "ours": shape,
            "mlflow_workers": options["workers"],
            "same_first_answer": same,
            "load_before": load_before,
            "load_after": load_after,
            "results": [{"ours": ours.as_dict(), "mlflow": theirs.as_dict()} for ours, theirs in rows],
        }

    def _run_experiments(self, workdir: Path, source: dict, counts, environment: dict, options) -> dict:
        items = benchmark.benchmark_items(options["items"])
        tone, max_new_tokens, percent = (
            benchmark.BENCHMARK_TONE,
            options["max_new_tokens"],
            options["percent"],
        )
        # each worker notices a start or stop within a second; the experiments' own defaults otherwise
        environment.setdefault("MODEL_CHECK_INTERVAL_SECONDS", "1")
        settle = float(environment["MODEL_CHECK_INTERVAL_SECONDS"]) + 2.0
        with benchmark.sandbox(workdir) as box:
            production = _register_production(source)
            challenger = experiment_benchmark.register_challenger(production=production)
            client_token, operator = benchmark.sandbox_token(), experiment_benchmark.operator_token()
            shape = _our_shape(environment, options["threads"])
            self.stdout.write(f"Starting our gunicorn ({shape}) on 127.0.0.1 ...")
            runs = []
            with benchmark.gunicorn_server(
                box=box,
                threads=options["threads"],
                workers=None,
                request_threads=None,
                extra_environment=environment,
            ) as port:
                load_before = _uptime()
                for clients in counts:
                    run = experiment_benchmark.run_conditions(
                        port=port,
                        client_token=client_token,
                        operator=operator,
                        model_name=production.name,
                        challenger_version=challenger.version,
                        percent=percent,
                        clients=clients,
                        seconds=options["seconds"],
                        slices=options["slices"],
                        items=items,
                        tone=tone,
                        max_new_tokens=max_new_tokens,
                        settle_seconds=settle,
                    )
                    runs.append(run)
                    self.stdout.write(
                        f"{clients:>3} clients: p50 none {run.results['none'].percentile_ms(0.5):.1f} ms, "
                        f"shadow {run.ratio('shadow'):.3f}x, canary {run.ratio('canary'):.3f}x"
                    )
                load_after = _uptime()
            if any(result.errors for run in runs for result in run.results.values()):
                lines = (workdir / "gunicorn.log").read_text(errors="replace").splitlines()
                self.stderr.write("--- last lines of gunicorn.log ---\n" + "\n".join(lines[-40:]))
        self.stdout.write(
            f"\nModel pair: {source['label']} as v{production.version} (production) and "
            f"v{challenger.version} (the challenger, same artifact); {len(items)} items, tone {tone}, "
            f"max_new_tokens {max_new_tokens}; {options['seconds']:g} s per condition and client count in "
            f"{options['slices']} turns (none, shadow {percent}%, canary {percent}%); each request a new "
            f"X-Request-Key.\nOurs: {shape}."
            f"\nLoad before: {load_before}\nLoad after:  {load_after}\n\n"
            + experiment_benchmark.format_table(runs, percent)
        )
        return {
            "model": source["label"],
            "percent": percent,
            "items": len(items),
            "max_new_tokens": max_new_tokens,
            "seconds": options["seconds"],
            "slices": options["slices"],
            "ours": shape,
            "load_before": load_before,
            "load_after": load_after,
            "results": [run.as_dict() for run in runs],
        }


def _register_production(source: dict):
    """The measured model as the sandbox's production version."""
    return benchmark.sandbox_register(
        source=source["path"],
        name=settings.CREATIVEOPS["DEFAULT_MODEL_NAME"],
        version=source["version"],
        preset=source["preset"],
        parameter_count=source["parameter_count"],
    )


def _our_shape(environment: dict[str, str], torch_threads: int) -> str:
    """Our server's processes and threads: deploy/gunicorn.conf.py's, as --env overrides them."""
    config = runpy.run_path(str(Path(settings.BASE_DIR) / "deploy" / "gunicorn.conf.py"))
    workers = environment.get("GUNICORN_WORKERS", config["workers"])
    threads = environment.get("GUNICORN_THREADS", config["threads"])
    torch_threads = environment.get("TORCH_NUM_THREADS", torch_threads)
    others = {
        name: value for name, value in environment.items() if not name.startswith(("GUNICORN_", "TORCH_"))
    }
    return (
        f"deploy/gunicorn.conf.py: {workers} worker(s) x {threads} request threads, TORCH_NUM_THREADS="
        f"{torch_threads}" + "".join(f", {name}={value}" for name, value in sorted(others.items()))
    )


def _uptime() -> str:
    """`uptime`'s line (the machine's load), or the load averages where the tool is missing."""
    try:
        return subprocess.run(
            ["uptime"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "load average: " + ", ".join(f"{value:.2f}" for value in os.getloadavg())
