"""Audited write throughput: Docket's signed transparency log vs django-auditlog, same run, same server.

The business write is creating a row (a django.contrib.auth Group) in its own transaction; the same
write without any log ("unlogged") shows what the machine allows at all. Docket logs
it with `audit.services.record` as services do: the entry is queued and sequenced when the transaction
commits (sequencer lock, canonical encoding, RFC 6962 leaf hash; a checkpoint signed after the commit
that leaves half the uncovered window full, as with no Celery worker). The "sequenced at once" column is
`record(..., sequenced=True)`, which the gate and signed review decisions use because they store the
entry's index in the same transaction: the lock is then held from the append to the end of the
transaction, across the client's round trip to COMMIT. django-auditlog logs the
same write through its post_save signal (unsigned, not tamper-evident). Writers are separate processes
with their own connections.

    scripts/with-postgres.sh .venv/bin/python benchmarks/audit_write_throughput.py [--writes 4000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")


def _setup():
    import django

    django.setup()


def _writer(kind: str, writer: int, count: int, run: str, start_barrier) -> None:
    _setup()
    from auditlog.registry import auditlog
    from django.contrib.auth.models import Group
    from django.db import connection, transaction

    from apps.accounts.models import User
    from apps.audit.actions import Action
    from apps.audit.services import record

    actor = User.objects.get(username="bench")
    if kind == "auditlog":
        auditlog.register(Group)
    connection.ensure_connection()
    start_barrier.wait()
    for n in range(count):
        with transaction.atomic():
            group = Group.objects.create(name=f"{run}-{kind}-{writer}-{n}")
            if kind in ("docket", "docket-sequenced"):
                record(actor=actor, action=Action.ACCOUNTS_TEAM_CREATED, subject=group, data={"name": group.name},
                       sequenced=kind == "docket-sequenced")
    connection.close()


def _run(kind: str, writers: int, total: int, run: str) -> float:
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(writers + 1)
    processes = [
        context.Process(target=_writer, args=(kind, w, total // writers, run, barrier)) for w in range(writers)
    ]
    for process in processes:
        process.start()
    barrier.wait()
    started = time.perf_counter()
    for process in processes:
        process.join()
        if process.exitcode != 0:
            raise SystemExit(f"{kind} writer failed")
    return (total // writers) * writers / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=4000, help="writes per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the best of each is reported")
    args = parser.parse_args()

    _setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from apps.accounts.models import User
    from apps.audit.models import AuditEntry, Checkpoint

    call_command("migrate", verbosity=0)
    User.objects.get_or_create(username="bench", defaults={"first_name": "Bench", "last_name": "Writer"})
    connection.close()
    with connection.cursor() as cursor:
        cursor.execute("SHOW fsync")
        fsync = cursor.fetchone()[0]
        cursor.execute("SHOW synchronous_commit")
        synchronous_commit = cursor.fetchone()[0]
    connection.close()

    print(f"PostgreSQL at {settings.DATABASES['default']['HOST']}:{settings.DATABASES['default']['PORT']} "
          f"(fsync={fsync}, synchronous_commit={synchronous_commit}); both sides use this same server.")
    print(f"{os.cpu_count()} CPUs; {args.writes} writes per measurement; best of {args.rounds} alternating rounds; "
          f"DOCKET_AUDIT_MAX_UNCHECKPOINTED={settings.DOCKET_AUDIT_MAX_UNCHECKPOINTED}.")
    results: dict[tuple[str, int], float] = {}
    for round_number in range(args.rounds):
        for writers in (1, 8):
            for kind in ("unlogged", "auditlog", "docket", "docket-sequenced"):
                rate = _run(kind, writers, args.writes, f"r{round_number}w{writers}")
                results[(kind, writers)] = max(results.get((kind, writers), 0.0), rate)
    print()
    print(f"{'writers':>7} | {'unlogged writes/s':>17} | {'django-auditlog writes/s':>24} | "
          f"{'Docket audited writes/s':>23} | {'cost ratio':>10} | {'Docket, sequenced at once':>25}")
    for writers in (1, 8):
        bare, baseline, docket, at_once = (results[(kind, writers)]
                                           for kind in ("unlogged", "auditlog", "docket", "docket-sequenced"))
        print(f"{writers:>7} | {bare:>17.0f} | {baseline:>24.0f} | {docket:>23.0f} | {baseline / docket:>9.2f}x | "
              f"{at_once:>25.0f}")
    print()
    entries = AuditEntry.objects.count()
    checkpoints = Checkpoint.objects.count()
    print(f"Docket log after the run: {entries} entries, {checkpoints} signed checkpoints.")
    print("Targets: cost ratio (Docket's cost per write / django-auditlog's) <= 1.3x; >= 1000 audited writes/s "
          "with 8 writers. The unlogged column is the ceiling for any audited write on this machine.")


if __name__ == "__main__":
    main()
