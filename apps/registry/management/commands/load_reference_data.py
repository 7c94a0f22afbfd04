"""Loads the registry's reference data (the EU AI Act Annex III areas and points) from fixtures/."""

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

REFERENCE_FIXTURES = ["annex_iii_points.json"]


class Command(BaseCommand):
    help = "Loads reference data (EU AI Act Annex III points) from fixtures/. Safe to run repeatedly."

    def handle(self, *args, **options):
        fixtures_dir = settings.BASE_DIR / "fixtures"
        for name in REFERENCE_FIXTURES:
            # loaddata updates rows by primary key (the Annex III code), so repeating it changes nothing.
            call_command("loaddata", str(fixtures_dir / name), verbosity=0)
            self.stdout.write(f"Loaded reference data from fixtures/{name}.")
