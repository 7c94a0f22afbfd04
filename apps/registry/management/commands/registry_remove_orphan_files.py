"""Removes stored artifact and dataset files that no registry row references.

A service removes its own file when its transaction fails; a file can still be left behind when a
caller wraps the service in a larger transaction that rolls back later. This command finds such files.
"""

import datetime as dt

from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand
from django.utils import timezone

from apps.registry.models import DatasetVersion, ModelVersion

STORED_DIRECTORIES = ("artifacts", "datasets")


def _walk(directory: str):
    try:
        subdirectories, files = default_storage.listdir(directory)
    except FileNotFoundError:
        return
    for name in files:
        yield f"{directory}/{name}"
    for subdirectory in subdirectories:
        yield from _walk(f"{directory}/{subdirectory}")


class Command(BaseCommand):
    help = "Deletes files under artifacts/ and datasets/ that no model or dataset version references."

    def add_arguments(self, parser):
        parser.add_argument("--older-than-minutes", type=int, default=60,
                            help="Only files last modified at least this long ago (default 60), so that "
                                 "uploads still being registered are left alone.")
        parser.add_argument("--dry-run", action="store_true", help="List the files without deleting them.")

    def handle(self, *args, older_than_minutes: int, dry_run: bool, **options):
        referenced = set(ModelVersion.objects.values_list("artifact", flat=True))
        referenced |= set(DatasetVersion.objects.exclude(file="").values_list("file", flat=True))
        cutoff = timezone.now() - dt.timedelta(minutes=older_than_minutes)
        orphans = [
            name
            for directory in STORED_DIRECTORIES
            for name in _walk(directory)
            if name not in referenced and default_storage.get_modified_time(name) <= cutoff
        ]
        for name in orphans:
            if not dry_run:
                default_storage.delete(name)
            self.stdout.write(f"{'would remove' if dry_run else 'removed'} {name}")
        self.stdout.write(f"{len(orphans)} orphaned file(s){' found' if dry_run else ' removed'}.")
