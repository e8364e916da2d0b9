"""manage.py rollback [--to VERSION] --reason "…" [--name NAME] [--actor USERNAME]"""

from __future__ import annotations

from registry.management.commands._registry_command import RegistryCommand, service_errors
from registry.services import model_version_rollback


class Command(RegistryCommand):
    help = "Make an earlier production version production again (default: the previous production)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--to", type=int, dest="to_version", metavar="VERSION", help="Version to return to."
        )
        self.add_name_argument(parser)
        self.add_actor_arguments(parser)

    def handle(self, *args, to_version: int | None, name: str, reason: str, actor: str | None, **options):
        reason = self.reason(reason)
        user, label = self.actor(actor)
        with service_errors():
            restored = model_version_rollback(
                name=name, actor=user, reason=reason, to_version=to_version, actor_label=label
            )
        # What the transaction archived, not what was in production before it: another promotion
        # may commit in between (the audit trail records the same version).
        archived = restored.replaced_production
        was = f" (v{archived.version} archived)" if archived else ""
        self.stdout.write(self.style.SUCCESS(f"Rolled {name} back to v{restored.version}{was}."))
