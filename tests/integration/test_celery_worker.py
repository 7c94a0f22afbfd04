"""A real Celery worker, a real broker and the real database: background work queued on commit by a
service runs in another process and its result is visible here."""

import pytest
from django.db import transaction

from apps.accounts.services import team_create
from apps.audit.models import AuditEntry, Checkpoint
from apps.audit.selectors import signing_keys
from apps.audit.services import SYSTEM
from apps.audit.verifier import open_note, parse_checkpoint, parse_vkey
from tests.integration.worker import running_celery_worker, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_full_checkpoint_window_is_signed_by_the_worker_after_commit(tmp_path, settings):
    settings.DOCKET_AUDIT_MAX_UNCHECKPOINTED = 8
    with running_celery_worker(tmp_path / "celery", extra_env={"DOCKET_AUDIT_MAX_UNCHECKPOINTED": "8"}) as log:
        for number in range(4):
            with transaction.atomic():
                team_create(actor=SYSTEM, key=f"team-{number}", name=f"Team {number}")
        # Half the window is uncovered: record() queued checkpoint_sign_task on commit; the worker signs it.
        checkpoint = wait_for(lambda: Checkpoint.objects.filter(tree_size__gte=4).first(), timeout=60, log_path=log)

    assert AuditEntry.objects.count() == 4
    text, verified_by = open_note(checkpoint.note, [parse_vkey(key.vkey) for key in signing_keys()])
    assert parse_checkpoint(text).tree_size == checkpoint.tree_size == 4
    assert verified_by, "the worker's checkpoint is signed with a published key"
    assert "checkpoint_sign_task" in log.read_text()
