import pytest
from django.db import transaction

from apps.accounts.models import User
from apps.audit.actions import Action
from apps.audit.encoding import leaf_hash
from apps.audit.models import AuditEntry, QueuedEntry
from apps.audit.services import SYSTEM, AuditError, record

pytestmark = pytest.mark.django_db


def test_record_appends_entries_with_consecutive_indexes_and_rfc6962_leaf_hashes():
    alice = User.objects.create(username="alice", first_name="Alice", last_name="Smith")
    first = record(actor=alice, action=Action.ACCOUNTS_USER_CREATED, subject=alice, data={"username": "alice"},
                   sequenced=True)
    second = record(actor=SYSTEM, action=Action.ACCOUNTS_USER_CREATED, subject=alice, data={"n": 1.5}, sequenced=True)

    assert (first.index, second.index) == (0, 1)
    assert first.actor_name == "Alice Smith"
    assert first.subject_type == "accounts.user" and first.subject_id == str(alice.pk)
    assert bytes(first.leaf_hash) == leaf_hash(bytes(first.encoded))
    assert second.data == {"n": "1.5"}
    assert second.actor_type == "system"


def test_record_refuses_unknown_actions_and_changes_nothing():
    alice = User.objects.create(username="alice")
    with pytest.raises(AuditError, match="Unknown audit action"):
        record(actor=alice, action="registry.nothing.happened", subject=alice, data={})
    assert AuditEntry.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_record_refuses_to_run_outside_a_transaction():
    alice = User.objects.create(username="alice")
    with pytest.raises(AuditError, match="inside the service's transaction"):
        record(actor=alice, action=Action.ACCOUNTS_USER_CREATED, subject=alice, data={})
    assert AuditEntry.objects.count() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("sequenced", [True, False], ids=["sequenced-at-once", "sequenced-at-commit"])
def test_a_rolled_back_transaction_leaves_no_entry_and_no_gap(sequenced):
    alice = User.objects.create(username="alice")
    with transaction.atomic():
        record(actor=alice, action=Action.ACCOUNTS_USER_CREATED, subject=alice, data={"n": 0}, sequenced=sequenced)

    class Rollback(Exception):
        pass

    with pytest.raises(Rollback), transaction.atomic():
        record(actor=alice, action=Action.ACCOUNTS_USER_CREATED, subject=alice, data={"n": "gone"}, sequenced=sequenced)
        raise Rollback
    with transaction.atomic():
        record(actor=alice, action=Action.ACCOUNTS_USER_CREATED, subject=alice, data={"n": 1}, sequenced=sequenced)
        # A savepoint rolled back inside a committing transaction takes its queued entry with it.
        with pytest.raises(Rollback), transaction.atomic():
            record(actor=alice, action=Action.ACCOUNTS_USER_CREATED, subject=alice, data={"n": "savepoint"},
                   sequenced=sequenced)
            raise Rollback
    assert list(AuditEntry.objects.values_list("index", "data")) == [(0, {"n": 0}), (1, {"n": 1})]
    assert not QueuedEntry.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_queued_entry_is_sequenced_when_its_transaction_commits_and_not_before():
    from django.db import connection

    alice = User.objects.create(username="alice")
    with transaction.atomic():
        queued = record(actor=alice, action=Action.ACCOUNTS_USER_CREATED, subject=alice, data={"n": 0})
        assert (queued.index, queued.timestamp, queued.encoded, queued.leaf_hash) == (None, None, None, None)
        with connection.cursor() as cursor:  # not reading audit_auditentry: nothing is sequenced yet
            cursor.execute("SELECT count(*) FROM audit_queuedentry")
            assert cursor.fetchone()[0] == 1
            cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
            assert cursor.fetchone()[0] == 0, "the sequencer lock is not taken before the commit"
    entry = AuditEntry.objects.get()
    assert (entry.index, entry.action, entry.subject_id, entry.data) == (0, "accounts.user.created", str(alice.pk),
                                                                          {"n": 0})
    assert bytes(entry.leaf_hash) == leaf_hash(bytes(entry.encoded))
    assert not QueuedEntry.objects.exists()


def test_reading_the_log_inside_the_transaction_sees_its_queued_entries_in_recording_order():
    alice = User.objects.create(username="alice")
    record(actor=alice, action=Action.ACCOUNTS_USER_CREATED, subject=alice, data={"n": 0})
    record(actor=SYSTEM, action=Action.ACCOUNTS_USER_ROLES_CHANGED, subject=alice, data={"n": 1})
    assert list(AuditEntry.objects.values_list("index", "action")) == [
        (0, "accounts.user.created"), (1, "accounts.user.roles_changed")]
    # A later queued entry, then one sequenced at once: the queued one keeps its place before it.
    record(actor=alice, action=Action.ACCOUNTS_USER_CREATED, subject=alice, data={"n": 2})
    last = record(actor=alice, action=Action.ACCOUNTS_USER_ROLES_CHANGED, subject=alice, data={"n": 3}, sequenced=True)
    assert last.index == 3
    assert list(AuditEntry.objects.values_list("data", flat=True)) == [{"n": 0}, {"n": 1}, {"n": 2}, {"n": 3}]


@pytest.mark.django_db(transaction=True)
def test_an_entry_sequenced_inside_a_savepoint_that_rolls_back_is_still_appended_at_commit():
    """Reading the log inside a savepoint sequences the entries queued before it; when the savepoint
    rolls back, PostgreSQL undoes that append and fires the trigger again at commit."""
    alice = User.objects.create(username="alice")

    class Rollback(Exception):
        pass

    with transaction.atomic():
        record(actor=alice, action=Action.ACCOUNTS_USER_CREATED, subject=alice, data={"n": "kept"})
        with pytest.raises(Rollback), transaction.atomic():
            assert AuditEntry.objects.count() == 1
            raise Rollback
    assert list(AuditEntry.objects.values_list("index", "data")) == [(0, {"n": "kept"})]
    assert not QueuedEntry.objects.exists()
