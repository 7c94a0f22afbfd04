"""Version numbering under concurrent registration, on PostgreSQL's row locks."""

import io
import threading

import pytest
from django.core.management import call_command
from django.db import connection

from apps.registry.models import ModelVersion

from .conftest import register_version

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def role_groups():
    """Transactional tests flush the database between tests, taking the data migration's role groups."""
    from django.contrib.auth.models import Group

    from apps.accounts.roles import Role

    for role in Role.values:
        Group.objects.get_or_create(name=role)


def test_concurrent_registrations_of_one_model_get_consecutive_numbers(submitter, model, skops_bytes):
    start = threading.Barrier(4)
    failures: list[BaseException] = []

    def register():
        try:
            start.wait()
            register_version(actor=submitter, model=model, content=skops_bytes)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=register) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert sorted(ModelVersion.objects.filter(model=model).values_list("number", flat=True)) == [1, 2, 3, 4]


def test_orphaned_files_are_removed_and_referenced_files_kept(submitter, model, skops_bytes, media_files, settings):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    version = register_version(actor=submitter, model=model, content=skops_bytes)
    orphan = default_storage.save("artifacts/" + "0" * 64 + "/left-behind.skops", ContentFile(b"x"))

    output = io.StringIO()
    call_command("registry_remove_orphan_files", "--older-than-minutes", "0", stdout=output)

    assert media_files() == [version.artifact.name]
    assert f"removed {orphan}" in output.getvalue()
