"""manage.py register --training-run N [--name NAME] [--actor USERNAME]"""

from __future__ import annotations

from django.core.management.base import CommandError

from registry.management.commands._registry_command import RegistryCommand, service_errors
from registry.services import model_version_register
from training.models import TrainingRun


class Command(RegistryCommand):
    help = (
        "Evaluate a succeeded training run against production on the same rows (the pipeline's gate) and "
        "register it as the next version: 'candidate' awaiting approval, or 'rejected' with the reason."
    )

    def add_arguments(self, parser):
        parser.add_argument("--training-run", type=int, required=True, metavar="N", help="Training run id.")
        self.add_name_argument(parser)
        parser.add_argument(
            "--actor", metavar="USERNAME", help="Record this user as the one who registered it."
        )

    def handle(self, *args, training_run: int, name: str, actor: str | None, **options):
        run = TrainingRun.objects.filter(pk=training_run).first()
        if run is None:
            raise CommandError(f"No training run #{training_run}.")
        user, _label = self.actor(actor)
        with service_errors():
            version = model_version_register(training_run=run, name=name, actor=user)
        style = self.style.SUCCESS if version.gate_passed else self.style.WARNING
        self.stdout.write(
            style(f"Training run #{run.pk} is {version.name} v{version.version} ({version.status}).")
        )
        self.stdout.write(version.gate_reason)
