from unittest import mock

import pytest

from apps.accounts.roles import Role
from apps.audit import proofs, services, signing
from apps.audit.actions import Action
from apps.audit.encoding import SubjectRef
from apps.audit.models import AuditEntry, Checkpoint, SigningKey
from apps.audit.services import record
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


def test_a_sequenced_record_queues_the_checkpoint_task_on_commit(settings, signing_key_file,
                                                                 django_capture_on_commit_callbacks):
    settings.DOCKET_AUDIT_MAX_UNCHECKPOINTED = 10
    with mock.patch("apps.audit.services._queue_checkpoint_task") as queue:
        with django_capture_on_commit_callbacks(execute=True):
            append_entries(4, sequenced=True)
        assert queue.call_count == 0
        with django_capture_on_commit_callbacks(execute=True):
            append_entries(1, sequenced=True)
        assert queue.call_count == 1


def test_a_sequenced_record_signs_itself_when_the_uncovered_window_is_full(settings, signing_key_file):
    settings.DOCKET_AUDIT_MAX_UNCHECKPOINTED = 10
    with mock.patch("apps.audit.services._queue_checkpoint_task"):
        append_entries(10, sequenced=True)
        assert Checkpoint.objects.count() == 0
        append_entries(1, sequenced=True)
    assert list(Checkpoint.objects.values_list("tree_size", flat=True)) == [10]
    assert AuditEntry.objects.count() == 11


def test_after_a_commit_that_leaves_half_the_window_uncovered_the_writer_signs_a_checkpoint(
        settings, signing_key_file, django_capture_on_commit_callbacks):
    settings.DOCKET_AUDIT_MAX_UNCHECKPOINTED = 10
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        append_entries(3)
    assert callbacks == [] and Checkpoint.objects.count() == 0
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        append_entries(3)  # 3 uncovered + 2 queued reaches half the window: one check, whatever follows
    assert len(callbacks) == 1
    assert list(Checkpoint.objects.values_list("tree_size", flat=True)) == [6]


def test_at_three_quarters_of_the_window_the_writer_signs_inside_its_transaction(settings, signing_key_file):
    settings.DOCKET_AUDIT_MAX_UNCHECKPOINTED = 10
    append_entries(25)  # one transaction: no commit in between, so only the in-transaction signing acts
    assert list(Checkpoint.objects.values_list("tree_size", flat=True)) == [7, 14, 21]
    assert AuditEntry.objects.count() == 25


def test_a_queued_entry_finding_the_window_full_signs_the_log_before_appending_itself(settings, signing_key_file):
    settings.DOCKET_AUDIT_MAX_UNCHECKPOINTED = 10
    with mock.patch("apps.audit.services._queue_checkpoint_task"):  # no worker takes the queued task
        append_entries(10, sequenced=True)
    assert not Checkpoint.objects.exists()
    append_entries(1)  # appending first would leave 11 uncovered, which the trigger refuses
    assert list(Checkpoint.objects.values_list("tree_size", flat=True)) == [10]
    assert AuditEntry.objects.count() == 11


@pytest.mark.django_db(transaction=True)
def test_the_database_refuses_to_commit_entries_that_would_overfill_the_window(settings, tmp_path):
    """Each writer's estimate misses what concurrent writers queue; the trigger that sequences an entry
    at commit enforces the bound exactly. Signing fails throughout (no key), so nothing is covered."""
    import threading

    from django.contrib.auth.models import Group
    from django.db import DatabaseError, connection, transaction

    settings.DOCKET_AUDIT_SIGNING_KEY_FILE = str(tmp_path / "missing.key")
    settings.DOCKET_AUDIT_AUTOCREATE_KEY = False
    settings.DOCKET_AUDIT_MAX_UNCHECKPOINTED = 10
    append_entries(5)
    queued, outcomes = threading.Barrier(6), []

    def writer(n: int) -> None:
        try:
            with transaction.atomic():
                Group.objects.create(name=f"writer {n}")
                record(actor=services.SYSTEM, action=Action.ACCOUNTS_USER_CREATED,
                       subject=SubjectRef(type="accounts.user", id=str(n), label="writer"), data={"n": n})
                queued.wait(timeout=30)  # all six estimate 5 + 1 uncovered: not even three quarters
            outcomes.append("committed")
        except DatabaseError as error:
            outcomes.append(str(error).splitlines()[0])
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes) == ["committed"] * 5 + ["docket audit log: 11 entries would not be covered by a "
                                "signed checkpoint (at most 10 may be); sign one with `manage.py audit checkpoint` "
                                "and check the signing key"]
    assert list(AuditEntry.objects.values_list("index", flat=True)) == list(range(10))
    assert Group.objects.filter(name__startswith="writer").count() == 5
    assert not Checkpoint.objects.exists()


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
