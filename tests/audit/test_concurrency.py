"""Concurrent writers through their own PostgreSQL connections never fork the log or leave gaps."""

import threading

import pytest
from django.db import connection, transaction

from apps.audit import integrity, services
from apps.audit.actions import Action
from apps.audit.encoding import SubjectRef
from apps.audit.models import AuditEntry, Checkpoint
from apps.audit.verifier import root_from_leaf_hashes

WRITERS = 8
ENTRIES_PER_WRITER = 500


class Rollback(Exception):
    pass


def _writer(number: int, errors: list, roll_back_every: int | None, sequenced: bool = False) -> None:
    try:
        for n in range(ENTRIES_PER_WRITER):
            try:
                with transaction.atomic():
                    services.record(
                        actor=services.SYSTEM, action=Action.ACCOUNTS_USER_CREATED,
                        subject=SubjectRef(type="accounts.user", id=f"{number}-{n}", label=f"writer {number}"),
                        data={"writer": number, "n": n}, sequenced=sequenced,
                    )
                    if roll_back_every and n % roll_back_every == 0:
                        raise Rollback
            except Rollback:
                pass
    except Exception as exc:  # noqa: BLE001 (reported to the main thread, which asserts none)
        errors.append(exc)
    finally:
        connection.close()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("mode", ["sequenced-at-commit", "sequenced-at-once", "mixed"])
def test_eight_concurrent_writers_of_500_entries_leave_no_gap_no_duplicate_and_a_verifiable_tree(
    settings, signing_key_file, mode
):
    settings.DOCKET_AUDIT_MAX_UNCHECKPOINTED = 700  # several checkpoints are signed while writers race
    errors: list = []
    sequenced = {"sequenced-at-commit": lambda n: False, "sequenced-at-once": lambda n: True,
                 "mixed": lambda n: n < WRITERS // 2}[mode]
    threads = [threading.Thread(target=_writer, args=(n, errors, 7 if n % 2 else None, sequenced(n)))
               for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []

    rolled_back = sum(len(range(0, ENTRIES_PER_WRITER, 7)) for n in range(WRITERS) if n % 2)
    expected = WRITERS * ENTRIES_PER_WRITER - rolled_back
    indexes = list(AuditEntry.objects.order_by("index").values_list("index", flat=True))
    assert indexes == list(range(expected))
    writes = set(AuditEntry.objects.values_list("subject_id", flat=True))
    assert len(writes) == expected  # every committed write has exactly one entry

    checkpoint = services.checkpoint_sign()
    leaves = [bytes(h) for h in AuditEntry.objects.order_by("index").values_list("leaf_hash", flat=True)]
    assert checkpoint.tree_size == expected and bytes(checkpoint.root_hash) == root_from_leaf_hashes(leaves)
    assert Checkpoint.objects.count() >= 1 + expected // 700 - 1
    report = integrity.verify_log()
    assert report.entries == expected and report.root_hash == root_from_leaf_hashes(leaves)


@pytest.mark.django_db(transaction=True)
def test_concurrent_checkpoint_signers_never_sign_two_checkpoints_of_one_size(signing_key_file):
    with transaction.atomic():
        for n in range(50):
            services.record(
                actor=services.SYSTEM, action=Action.ACCOUNTS_USER_CREATED,
                subject=SubjectRef(type="accounts.user", id=str(n), label="u"), data={},
            )
    errors: list = []

    def sign():
        try:
            services.checkpoint_sign()
        except Exception as exc:  # noqa: BLE001 (reported to the main thread)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sign) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert list(Checkpoint.objects.values_list("tree_size", flat=True)) == [50]
