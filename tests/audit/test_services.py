from unittest import mock

import pytest

from apps.accounts.roles import Role
from apps.audit import proofs, services, signing
from apps.audit.actions import Action
from apps.audit.models import AuditEntry, Checkpoint, SigningKey
from apps.audit.verifier import (
    open_note,
    parse_checkpoint,
    parse_vkey,
    root_from_leaf_hashes,
    verify_consistency,
)
from apps.common.errors import Conflict, PermissionDenied
from tests.audit.logdata import append_entries
from tests.factories.accounts import UserFactory

pytestmark = pytest.mark.django_db


def test_checkpoint_sign_signs_a_c2sp_checkpoint_of_every_committed_entry(settings, signing_key_file):
    leaves = append_entries(5)
    checkpoint = services.checkpoint_sign()

    signer = signing.load_signer()
    text, _keys = open_note(checkpoint.note, [parse_vkey(signer.vkey)])
    body = parse_checkpoint(text)
    assert (body.origin, body.tree_size, body.root_hash) == (settings.DOCKET_AUDIT_ORIGIN, 5, root_from_leaf_hashes(leaves))
    assert checkpoint.signing_key.key_id == signer.key_id.hex()
    assert bytes(checkpoint.root_hash) == body.root_hash


def test_checkpoint_sign_returns_the_latest_checkpoint_when_the_log_did_not_grow(signing_key_file):
    append_entries(3)
    first = services.checkpoint_sign()
    again = services.checkpoint_sign()
    assert again.tree_size == first.tree_size == 3 and Checkpoint.objects.count() == 1


def test_consecutive_checkpoints_are_consistent(signing_key_file):
    append_entries(3)
    old = services.checkpoint_sign()
    append_entries(10)
    new = services.checkpoint_sign()
    verify_consistency(
        old_size=old.tree_size, new_size=new.tree_size, old_root=bytes(old.root_hash), new_root=bytes(new.root_hash),
        proof=proofs.consistency_proof(old_size=old.tree_size, new_size=new.tree_size),
    )


def test_checkpoint_sign_by_a_non_admin_is_refused_and_signs_nothing(signing_key_file):
    append_entries(2)
    validator = UserFactory(roles=[Role.VALIDATOR])
    with pytest.raises(PermissionDenied):
        services.checkpoint_sign(actor=validator)
    assert Checkpoint.objects.count() == 0


def test_checkpoint_sign_by_an_admin_is_allowed(signing_key_file):
    append_entries(2)
    assert services.checkpoint_sign(actor=UserFactory(roles=[Role.ADMIN])).tree_size == 2


def test_signing_refuses_a_log_whose_entry_no_longer_matches_its_hash(signing_key_file):
    from django.db import connection

    append_entries(4)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER audit_auditentry_append_only")
        cursor.execute("UPDATE audit_auditentry SET encoded = 'x'::bytea WHERE index = 2")
        cursor.execute("ALTER TABLE audit_auditentry ENABLE ALWAYS TRIGGER audit_auditentry_append_only")
    with pytest.raises(services.AuditError, match="Entry 2: its leaf hash does not match"):
        services.checkpoint_sign()
    assert Checkpoint.objects.count() == 0


def test_record_queues_the_checkpoint_task_on_commit(settings, signing_key_file, django_capture_on_commit_callbacks):
    settings.DOCKET_AUDIT_MAX_UNCHECKPOINTED = 10
    with mock.patch("apps.audit.services._queue_checkpoint_task") as queue:
        with django_capture_on_commit_callbacks(execute=True):
            append_entries(4)
        assert queue.call_count == 0
        with django_capture_on_commit_callbacks(execute=True):
            append_entries(1)
        assert queue.call_count == 1


def test_record_signs_itself_when_the_uncovered_window_is_full(settings, signing_key_file):
    settings.DOCKET_AUDIT_MAX_UNCHECKPOINTED = 10
    with mock.patch("apps.audit.services._queue_checkpoint_task"):
        append_entries(10)
        assert Checkpoint.objects.count() == 0
        append_entries(1)
    assert list(Checkpoint.objects.values_list("tree_size", flat=True)) == [10]
    assert AuditEntry.objects.count() == 11


def test_a_configured_key_that_is_not_the_registered_one_is_refused(settings, signing_key_file):
    append_entries(1)
    services.checkpoint_sign()
    settings.DOCKET_AUDIT_SIGNING_KEY = signing.generate_signer(settings.DOCKET_AUDIT_ORIGIN).signer_key_text()
    append_entries(1)
    with pytest.raises(services.AuditError, match="rotate-key"):
        services.checkpoint_sign()
    assert Checkpoint.objects.count() == 1


def test_key_rotation_retires_the_old_key_keeps_old_checkpoints_verifiable_and_is_audited(settings, signing_key_file):
    append_entries(3)
    old_checkpoint = services.checkpoint_sign()
    old_key = SigningKey.objects.get()
    admin = UserFactory(roles=[Role.ADMIN])
    append_entries(2)
    new_signer = signing.generate_signer(settings.DOCKET_AUDIT_ORIGIN)

    new_key = services.signing_key_rotate(actor=admin, new_signer=new_signer)

    old_key.refresh_from_db()
    assert old_key.valid_until is not None and new_key.valid_until is None
    assert new_key.valid_from == old_key.valid_until
    # everything before the rotation was covered by the old key first
    assert Checkpoint.objects.filter(tree_size=5, signing_key=old_key).exists()
    entry = AuditEntry.objects.order_by("-index").first()
    assert entry.action == Action.AUDIT_SIGNING_KEY_ROTATED
    assert entry.subject_type == "audit.signingkey" and entry.subject_id == str(new_key.pk)
    assert entry.actor_id == str(admin.pk)
    assert entry.data["old_key"]["vkey"] == old_key.vkey and entry.data["new_key"]["vkey"] == new_signer.vkey

    settings.DOCKET_AUDIT_SIGNING_KEY = new_signer.signer_key_text()
    new_checkpoint = services.checkpoint_sign()
    assert new_checkpoint.signing_key == new_key and new_checkpoint.tree_size == 6
    services.checkpoint_open(old_checkpoint)
    services.checkpoint_open(new_checkpoint)


def test_key_rotation_by_a_non_admin_is_refused_and_changes_nothing(settings, signing_key_file):
    append_entries(1)
    services.checkpoint_sign()
    with pytest.raises(PermissionDenied):
        services.signing_key_rotate(
            actor=UserFactory(roles=[Role.AUDITOR]), new_signer=signing.generate_signer(settings.DOCKET_AUDIT_ORIGIN)
        )
    assert SigningKey.objects.get().valid_until is None
    assert AuditEntry.objects.count() == 1 and Checkpoint.objects.count() == 1


def test_key_rotation_to_an_already_registered_key_is_refused_and_changes_nothing(signing_key_file):
    append_entries(1)
    services.checkpoint_sign()
    with pytest.raises(Conflict):
        services.signing_key_rotate(actor=services.SYSTEM, new_signer=signing.load_signer())
    assert SigningKey.objects.get().valid_until is None
    assert AuditEntry.objects.count() == 1


def test_checkpoint_covering_signs_when_the_entry_is_not_yet_covered(signing_key_file):
    append_entries(3)
    services.checkpoint_sign()
    append_entries(2)
    assert services.checkpoint_covering(index=4).tree_size == 5
    assert services.checkpoint_covering(index=1, tree_size=3).tree_size == 3
