"""Issues an API key for a service account and prints it once."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from apps.accounts.selectors import service_account_get
from apps.accounts.services import api_key_issue
from apps.audit.services import SYSTEM
from apps.common.errors import ApplicationError


class Command(BaseCommand):
    help = "Issues a new API key for a service account and prints it; it cannot be shown again."

    def add_arguments(self, parser):
        parser.add_argument("service_account", help="The service account's name.")
        parser.add_argument("--expires-days", type=int, default=None, help="Days until the key expires.")
        parser.add_argument("--label", default="", help="A note saying where the key is used.")

    def handle(self, *args, **options):
        expires_days = options["expires_days"]
        if expires_days is not None and expires_days <= 0:
            raise CommandError("--expires-days must be a positive number of days.")
        expires_at = timezone.now() + dt.timedelta(days=expires_days) if expires_days else None
        try:
            service_account = service_account_get(name=options["service_account"])
            api_key, plaintext = api_key_issue(
                actor=SYSTEM, service_account=service_account, expires_at=expires_at, label=options["label"]
            )
        except ApplicationError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(plaintext)
        expiry = api_key.expires_at.isoformat() if api_key.expires_at else "never"
        self.stderr.write(
            f"Issued {api_key.display_prefix} for {service_account.name} (expires: {expiry}). "
            "Store it now: Docket keeps only its hash and cannot show it again."
        )
