"""The PostgreSQL append (docket_audit_append) writes exactly the bytes Python's encoder defines."""

import datetime as dt

import pytest
from django.db import connection, transaction

from apps.audit.actions import Action
from apps.audit.encoding import (
    ActorRef,
    SubjectRef,
    encode_entry,
    encode_entry_parts,
    format_timestamp,
    leaf_hash,
)
from apps.audit.models import AuditEntry
from apps.audit.services import SYSTEM, record

ACTOR = ActorRef(type="user", id="7", name='Zoë "Q" Validator')
SUBJECT = SubjectRef(type="registry.usecase", id="12", label="credit-scoring")


@pytest.mark.parametrize("data", [
    {},
    {"index": 0, "timestamp": "0000-00-00T00:00:00.000000Z"},  # nested keys that look like the placeholders
    {"a": {"index": 0, "b": [{"index": 0}]}, "label": '"index":0,', "ü": "ß — ✓"},
    {"text": '"timestamp":"0000-00-00T00:00:00.000000Z"', "n": "12.50", "list": [1, 2, None, True]},
])
@pytest.mark.parametrize("index", [0, 7, 1234567890123])
def test_the_parts_around_index_and_timestamp_reassemble_the_encoding(data, index):
    stamp = dt.datetime(2026, 11, 23, 1, 2, 3, 4005, tzinfo=dt.UTC)
    head, middle, tail = encode_entry_parts(actor=ACTOR, action="registry.use_case.created", subject=SUBJECT,
                                            data=data, request_id="req-1")
    assembled = head + str(index).encode() + middle + format_timestamp(stamp).encode() + tail
    assert assembled == encode_entry(index=index, timestamp=stamp, actor=ACTOR, action="registry.use_case.created",
                                     subject=SUBJECT, data=data, request_id="req-1")


@pytest.mark.django_db
@pytest.mark.parametrize("sequenced", [True, False], ids=["sequenced-at-once", "sequenced-at-commit"])
@pytest.mark.parametrize("data", [{"name": "ünïcode ✓", "nested": {"index": 0}}, {}])
def test_a_recorded_entry_is_stored_with_the_encoding_and_leaf_python_computes(data, sequenced):
    with transaction.atomic():
        entry = record(actor=SYSTEM, action=Action.ACCOUNTS_TEAM_CREATED,
                       subject=SubjectRef(type="accounts.team", id="1", label="credit"), data=data, sequenced=sequenced)
    stored = AuditEntry.objects.get()
    if not sequenced:
        assert (entry.index, entry.timestamp, entry.encoded, entry.leaf_hash) == (None, None, None, None)
        entry.index, entry.timestamp, entry.encoded, entry.leaf_hash = 0, stored.timestamp, *_stored_bytes(stored)
    expected = encode_entry(index=stored.index, timestamp=stored.timestamp,
                            actor=ActorRef(type=stored.actor_type, id=stored.actor_id, name=stored.actor_name),
                            action=stored.action,
                            subject=SubjectRef(type=stored.subject_type, id=stored.subject_id, label=stored.subject_label),
                            data=stored.data, request_id=stored.request_id)
    assert bytes(stored.encoded) == expected == entry.encoded
    assert bytes(stored.leaf_hash) == leaf_hash(expected) == entry.leaf_hash
    assert stored.timestamp == entry.timestamp and stored.data == data


def _stored_bytes(stored) -> tuple[bytes, bytes]:
    return bytes(stored.encoded), bytes(stored.leaf_hash)


@pytest.mark.django_db
def test_timestamps_never_decrease_along_the_index():
    for n in range(20):
        with transaction.atomic():
            record(actor=SYSTEM, action=Action.ACCOUNTS_TEAM_CREATED,
                   subject=SubjectRef(type="accounts.team", id=str(n), label="t"), data={})
    stamps = list(AuditEntry.objects.order_by("index").values_list("timestamp", flat=True))
    assert stamps == sorted(stamps)
    assert connection.vendor == "postgresql"
