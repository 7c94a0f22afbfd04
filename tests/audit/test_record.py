import pytest
from django.db import transaction

from apps.accounts.models import User
from apps.audit.actions import Action
from apps.audit.encoding import leaf_hash
from apps.audit.models import AuditEntry
from apps.audit.services import SYSTEM, AuditError, record

pytestmark = pytest.mark.django_db


def test_record_appends_entries_with_consecutive_indexes_and_rfc6962_leaf_hashes():
    alice = User.objects.create(username="alice", first_name="Alice", last_name="Smith")
    first = record(actor=alice, action=Action.ACCOUNTS_USER_CREATED, subject=alice, data={"username": "alice"})
    second = record(actor=SYSTEM, action=Action.ACCOUNTS_USER_CREATED, subject=alice, data={"n": 1.5})

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
def test_a_rolled_back_transaction_leaves_no_entry_and_no_gap():
    alice = User.objects.create(username="alice")
    with transaction.atomic():
        record(actor=alice, action=Action.ACCOUNTS_USER_CREATED, subject=alice, data={})

    class Rollback(Exception):
        pass

    with pytest.raises(Rollback), transaction.atomic():
        record(actor=alice, action=Action.ACCOUNTS_USER_CREATED, subject=alice, data={})
        raise Rollback
    with transaction.atomic():
        last = record(actor=alice, action=Action.ACCOUNTS_USER_CREATED, subject=alice, data={})
    assert list(AuditEntry.objects.values_list("index", flat=True)) == [0, 1]
    assert last.index == 1
