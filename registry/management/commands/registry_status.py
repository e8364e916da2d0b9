"""manage.py registry_status [--name NAME]: production, candidates with their gate reason, last events."""

from __future__ import annotations

from django.conf import settings

from registry import selectors
from registry.management.commands._registry_command import RegistryCommand

EVENTS_SHOWN = 10


class Command(RegistryCommand):
    help = "Show the production version, the candidates awaiting approval and the last registry events."

    def add_arguments(self, parser):
        self.add_name_argument(parser)

    def handle(self, *args, name: str, **options):
        metric = settings.CREATIVEOPS["PRIMARY_METRIC"]
        production = selectors.production_version(name)
        self.stdout.write(self.style.MIGRATE_HEADING(f"{name}: production"))
        if production is None:
            self.stdout.write("  none: no version has been promoted yet")
        else:
            by = production.promoted_by.get_username() if production.promoted_by else "system"
            since = f"{production.promoted_at:%Y-%m-%d %H:%M}" if production.promoted_at else "—"
            self.stdout.write(
                f"  v{production.version}  {metric} {_number(selectors.gate_primary_metric(production))}  "
                f"since {since} by {by}  sha256 {production.artifact_sha256[:12]}  "
                f"mlflow {'synced' if production.mlflow_synced else 'not synced'}"
            )

        candidates = selectors.model_versions(name).candidates().order_by("-version")
        heading = f"{name}: candidates awaiting approval ({candidates.count()})"
        self.stdout.write(self.style.MIGRATE_HEADING(heading))
        for version in candidates:
            value = _number(selectors.gate_primary_metric(version))
            self.stdout.write(f"  v{version.version}  {metric} {value}")
            self.stdout.write(f"      gate: {version.gate_reason}")
        if not candidates:
            self.stdout.write("  none")

        events = list(selectors.registry_events(name)[:EVENTS_SHOWN])
        self.stdout.write(self.style.MIGRATE_HEADING(f"{name}: last {EVENTS_SHOWN} events"))
        for event in events:
            moved = f"v{event.from_version.version}" if event.from_version else "—"
            target = f"v{event.to_version.version}" if event.to_version else "—"
            self.stdout.write(
                f"  {event.created_at:%Y-%m-%d %H:%M:%S}  {event.action:<16} {event.actor_label:<20} "
                f"{moved:>5} → {target:<5} {event.reason}"
            )
        if not events:
            self.stdout.write("  none")


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"
