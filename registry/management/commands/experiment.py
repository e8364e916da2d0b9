"""manage.py experiment start VERSION --mode shadow|canary [--percent P] --reason "…" [--name] [--actor]
manage.py experiment stop --reason "…" [--name] [--actor]
manage.py experiment status [--name]
"""

from __future__ import annotations

from django.core.management.base import CommandError

from registry import selectors
from registry.management.commands._registry_command import RegistryCommand, service_errors
from registry.models import Experiment
from registry.services import experiment_start, experiment_stop
from registry.services.experiments import DEFAULT_PERCENT, describe

RECENT_SHOWN = 5


class Command(RegistryCommand):
    help = "Start, stop or show the champion-vs-challenger experiment of a model (one runs at a time)."

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest="subcommand", required=True)
        start = commands.add_parser("start", help="Run a candidate beside production.")
        start.add_argument("version", type=int, help="The candidate version number (the challenger).")
        start.add_argument("--mode", required=True, choices=Experiment.Mode.values)
        start.add_argument(
            "--percent",
            type=int,
            default=DEFAULT_PERCENT,
            help="Shadow: 1-100 %% of requests; canary: 1-50 %% of clients (default %(default)s).",
        )
        stop = commands.add_parser("stop", help="End the running experiment; production is unchanged.")
        status = commands.add_parser("status", help="The running experiment and the last few.")
        for subparser in (start, stop):
            self.add_name_argument(subparser)
            self.add_actor_arguments(subparser)
        self.add_name_argument(status)

    def handle(self, *args, subcommand: str, name: str, **options):
        getattr(self, f"handle_{subcommand}")(name=name, **options)

    def handle_start(
        self, *, name: str, version: int, mode: str, percent: int, reason: str, actor, **options
    ):
        reason = self.reason(reason)
        user, label = self.actor(actor)
        challenger = selectors.model_version_get(name=name, version=version)
        if challenger is None:
            raise CommandError(f"{name} has no version {version}.")
        with service_errors():
            experiment = experiment_start(
                version=challenger, mode=mode, percent=percent, reason=reason, actor=user, actor_label=label
            )
        self.stdout.write(self.style.SUCCESS(f"Started experiment {describe(experiment)}."))

    def handle_stop(self, *, name: str, reason: str, actor, **options):
        reason = self.reason(reason)
        user, label = self.actor(actor)
        with service_errors():
            experiment = experiment_stop(name=name, reason=reason, actor=user, actor_label=label)
        self.stdout.write(self.style.SUCCESS(f"Stopped experiment #{experiment.pk} of {name}."))

    def handle_status(self, *, name: str, **options):
        running = selectors.running_experiment(name)
        self.stdout.write(self.style.MIGRATE_HEADING(f"{name}: running experiment"))
        self.stdout.write(f"  {describe(running)}" if running else "  none")
        recent = selectors.experiments(name)[:RECENT_SHOWN]
        self.stdout.write(self.style.MIGRATE_HEADING(f"{name}: last {RECENT_SHOWN} experiments"))
        for experiment in recent:
            ended = f", ended {experiment.stopped_at:%Y-%m-%d %H:%M}" if experiment.stopped_at else ""
            self.stdout.write(f"  {experiment.status:<9} {describe(experiment)}{ended}")
        if not recent:
            self.stdout.write("  none")
