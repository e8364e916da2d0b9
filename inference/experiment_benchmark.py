"""What a running experiment costs a client: predict latency with none, with a shadow and with a canary.

`benchmark_serving --experiments` serves one model pair with our gunicorn (the deploy configuration)
in the sandbox of inference/benchmark.py: version 1 in production and version 2 a candidate with the
same artifact, so the challenger's own speed is production's and any difference is the experiment's
machinery (the routing, the second model held, the shadow's work in the experiment worker). Closed-loop
clients send single-item predicts; each request carries its own `X-Request-Key` (a new visitor), so a
10 % canary answers about 10 % of requests with the challenger. The three conditions take turns, slice
by slice (none, shadow, canary, none, …), each experiment started and stopped over the operator API as
an operator would, so that a neighbour's load on a shared machine weighs on all three alike.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from inference import benchmark, serving_benchmark
from inference.serving_benchmark import Endpoint, LoadResult

CONDITIONS = ("none", "shadow", "canary")


@dataclass(frozen=True)
class ExperimentRun:
    clients: int
    results: dict[str, LoadResult]  # by condition
    # the shadow's requests: all of them, those drawn (about --percent), those the challenger wrote
    shadow_requests: int = 0
    shadow_drawn: int = 0
    shadow_run: int = 0

    def ratio(self, condition: str, share: float = 0.5) -> float | None:
        return serving_benchmark.ratio(
            self.results[condition].percentile_ms(share), self.results["none"].percentile_ms(share)
        )

    def as_dict(self) -> dict:
        return {
            "clients": self.clients,
            **{condition: result.as_dict() for condition, result in self.results.items()},
            "shadow_p50_ratio": self.ratio("shadow"),
            "canary_p50_ratio": self.ratio("canary"),
            "shadow_p95_ratio": self.ratio("shadow", 0.95),
            "canary_p95_ratio": self.ratio("canary", 0.95),
            "shadow_requests": self.shadow_requests,
            "shadow_drawn": self.shadow_drawn,
            "shadow_run": self.shadow_run,
        }


def register_challenger(*, production) -> object:
    """Version 2, a candidate with production's artifact (a second link to the same folder)."""
    from pathlib import Path

    from django.conf import settings

    from registry.models import ModelVersion
    from training.models import TrainingRun

    source = Path(settings.MEDIA_ROOT) / production.artifact_uri
    uri = "models/benchmark-challenger"
    (Path(settings.MEDIA_ROOT) / uri).symlink_to(source.resolve(), target_is_directory=True)
    run = TrainingRun.objects.create(
        dataset_version=production.training_run.dataset_version,
        preset=production.training_run.preset,
        status=TrainingRun.Status.SUCCEEDED,
        parameter_count=production.training_run.parameter_count,
    )
    return ModelVersion.objects.create(
        name=production.name,
        version=production.version + 1,
        training_run=run,
        artifact_uri=uri,
        artifact_sha256=production.artifact_sha256,
        status=ModelVersion.Status.CANDIDATE,
    )


def operator_token() -> str:
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    user = get_user_model().objects.create_user("benchmark-operator", password=None, is_superuser=True)
    return Token.objects.create(user=user).key


def _operator_call(port: int, token: str, path: str, body: dict) -> dict:
    status, answer = benchmark.http_request(port, "POST", path, body, token)
    if status not in (200, 201):
        raise RuntimeError(f"{path} answered {status}: {answer[:300]!r}")
    return json.loads(answer)


def run_conditions(
    *,
    port: int,
    client_token: str,
    operator: str,
    model_name: str,
    challenger_version: int,
    percent: int,
    clients: int,
    seconds: float,
    slices: int,
    items: list[dict],
    tone: str,
    max_new_tokens: int,
    settle_seconds: float,
    tick: Callable[[str], None] | None = None,
) -> ExperimentRun:
    """`seconds` of load per condition, in `slices` turns of none → shadow → canary."""
    endpoint = Endpoint(
        port=port,
        path="/api/v1/predict",
        body=lambda item: {**item, "tone": tone, "max_new_tokens": max_new_tokens},
        headers={"Authorization": f"Token {client_token}"},
        headers_for=lambda client, number: {"X-Request-Key": f"visitor-{client}-{number}"},
    )
    experiments = f"/api/v1/models/{model_name}/experiments"
    turns: dict[str, list[LoadResult]] = {condition: [] for condition in CONDITIONS}
    shadows: list[int] = []
    for turn in range(slices):
        for condition in CONDITIONS:
            if condition != "none":
                started = _operator_call(
                    port,
                    operator,
                    experiments,
                    {
                        "version": challenger_version,
                        "mode": condition,
                        "percent": percent,
                        "reason": f"benchmark turn {turn + 1}",
                    },
                )
                if condition == "shadow":
                    shadows.append(started["id"])
                # every worker notices at its next check and loads the challenger; a short warm load
                # then lets each of them do it before the clock runs
                time.sleep(settle_seconds)
                serving_benchmark.closed_loop(endpoint, clients=clients, seconds=2.0, items=items)
            turns[condition].append(
                serving_benchmark.closed_loop(
                    endpoint, clients=clients, seconds=seconds / slices, items=items
                )
            )
            if condition != "none":
                _operator_call(port, operator, f"{experiments}/stop", {"reason": "benchmark turn over"})
                time.sleep(settle_seconds)
            if tick:
                tick(condition)
    requests, drawn, run = _shadow_counts(shadows)
    return ExperimentRun(
        clients,
        shadow_requests=requests,
        shadow_drawn=drawn,
        shadow_run=run,
        results={
            condition: LoadResult(
                clients,
                sum(result.seconds for result in results),
                [value for result in results for value in result.latencies],
                sum(result.errors for result in results),
            )
            for condition, results in turns.items()
        },
    )


def _shadow_counts(experiment_ids: list[int]) -> tuple[int, int, int]:
    """(requests, drawn, run on the challenger) of these shadow experiments, from the tallies the
    server's experiment worker wrote (every 2 s; the settle time after each stop covers it)."""
    from django.db.models import Sum

    from inference.models import ExperimentTally

    tallies = ExperimentTally.objects.filter(experiment_id__in=experiment_ids)
    champion = tallies.filter(arm="champion").aggregate(requests=Sum("requests"))
    challenger = tallies.filter(arm="challenger").aggregate(requests=Sum("requests"), dropped=Sum("dropped"))
    run = challenger["requests"] or 0
    return champion["requests"] or 0, run + (challenger["dropped"] or 0), run


def format_table(runs: list[ExperimentRun], percent: int) -> str:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    def times(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}x"

    lines = [
        f"clients | none p50 / p95 ms | shadow {percent}% p50 / p95 ms | canary {percent}% p50 / p95 ms | "
        "shadow/none p50 | canary/none p50 | req/s none, shadow, canary | shadow drawn / run | errors",
        "---|---|---|---|---|---|---|---|---",
    ]
    for run in runs:
        results = run.results
        lines.append(
            f"{run.clients} | "
            + " | ".join(
                f"{ms(results[condition].percentile_ms(0.5))} / {ms(results[condition].percentile_ms(0.95))}"
                for condition in CONDITIONS
            )
            + f" | {times(run.ratio('shadow'))} | {times(run.ratio('canary'))} | "
            + ", ".join(f"{results[condition].requests_per_second:.1f}" for condition in CONDITIONS)
            + f" | {run.shadow_drawn} of {run.shadow_requests} / {run.shadow_run}"
            + f" | {sum(results[condition].errors for condition in CONDITIONS)}"
        )
    return "\n".join(lines)
