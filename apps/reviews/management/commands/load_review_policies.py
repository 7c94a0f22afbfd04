"""Creates the default review policies from fixtures/review_policies.json (keys that do not exist yet)."""

from django.core.management.base import BaseCommand

from apps.reviews.services import policy_defaults_load


class Command(BaseCommand):
    help = "Loads the default review policies; existing policy keys are left as they are. Safe to repeat."

    def handle(self, *args, **options):
        created = policy_defaults_load()
        if created:
            self.stdout.write(f"Created {len(created)} review policies: {', '.join(str(p) for p in created)}.")
        else:
            self.stdout.write("Every default review policy already exists.")
