"""Proof generation in a 1,000,000-entry audit log: inclusion and consistency proofs from stored nodes.

Fills the log fast (COPY of synthetic entries in the canonical encoding), integrates the Merkle tree
and signs a checkpoint through the real service (`checkpoint_sign`), then times `inclusion_proof`,
`consistency_proof` and `root_hash` for random entries and sizes, and checks a sample of the proofs
with the offline verifier.

    scripts/with-postgres.sh .venv/bin/python benchmarks/audit_proof_generation.py [--entries 1000000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")


def fill(count: int) -> None:
    from django.db import connection

    from apps.audit.encoding import ActorRef, SubjectRef, encode_entry, leaf_hash

    actor = ActorRef(type="system", id="", name="Docket")
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    columns = ('"index", timestamp, actor_type, actor_id, actor_name, action, subject_type, subject_id, '
               "subject_label, data, request_id, format_version, encoded, leaf_hash")
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY audit_auditentry ({columns}) FROM STDIN") as copy:
        for index in range(count):
            timestamp = start + dt.timedelta(milliseconds=index)
            subject = SubjectRef(type="registry.modelversion", id=str(index), label=f"model v{index}")
            data = {"version": index, "sha256": f"{index:064x}"}
            encoded = encode_entry(index=index, timestamp=timestamp, actor=actor,
                                   action="registry.model_version.registered", subject=subject, data=data,
                                   request_id=None)
            copy.write_row((index, timestamp, actor.type, actor.id, actor.name, "registry.model_version.registered",
                            subject.type, subject.id, subject.label, json.dumps(data), None, 1, encoded,
                            leaf_hash(encoded)))


def timed(fn, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def describe(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (f"{name:<34} median {statistics.median(samples):6.2f} ms   p99 {p99:6.2f} ms   "
            f"max {max(samples):6.2f} ms   (n={len(samples)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=500)
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from apps.audit import proofs, services
    from apps.audit.models import AuditEntry, TreeNode
    from apps.audit.verifier import verify_consistency, verify_inclusion

    call_command("migrate", verbosity=0)
    if AuditEntry.objects.exists():
        raise SystemExit("The benchmark needs an empty audit log (use scripts/with-postgres.sh).")
    started = time.perf_counter()
    fill(args.entries)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE audit_auditentry")
    fill_seconds = time.perf_counter() - started
    started = time.perf_counter()
    checkpoint = services.checkpoint_sign()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE audit_treenode")
    integrate_seconds = time.perf_counter() - started
    size, root = checkpoint.tree_size, bytes(checkpoint.root_hash)
    print(f"Filled {size} entries by COPY in {fill_seconds:.1f} s; integrated {TreeNode.objects.count()} tree nodes "
          f"and signed the checkpoint through checkpoint_sign() in {integrate_seconds:.1f} s.")

    rng = random.Random(1)
    indexes = [rng.randrange(size) for _ in range(args.samples)]
    leaf_hashes = dict(AuditEntry.objects.filter(index__in=indexes).values_list("index", "leaf_hash"))
    inclusion_ms, consistency_ms, root_ms = [], [], []
    for index in indexes:
        inclusion_ms += timed(lambda index=index: proofs.inclusion_proof(index=index, tree_size=size), 1)
        proof = proofs.inclusion_proof(index=index, tree_size=size)
        verify_inclusion(leaf_index=index, tree_size=size, leaf_hash=bytes(leaf_hashes[index]), proof=proof, root=root)
    for _ in range(args.samples):
        old_size = rng.randrange(1, size)
        consistency_ms += timed(lambda old_size=old_size: proofs.consistency_proof(old_size=old_size, new_size=size), 1)
        old_root = proofs.root_hash(tree_size=old_size)
        verify_consistency(old_size=old_size, new_size=size, old_root=old_root, new_root=root,
                           proof=proofs.consistency_proof(old_size=old_size, new_size=size))
        root_ms += timed(lambda old_size=old_size: proofs.root_hash(tree_size=old_size), 1)
    print("Every proof below was checked with apps.audit.verifier against the signed root.")
    print(describe(f"inclusion proof (log of {size})", inclusion_ms))
    print(describe(f"consistency proof (old..{size})", consistency_ms))
    print(describe("root hash of a random size", root_ms))
    print("Target: proof generation for any entry in a 1M-entry log <= 20 ms.")


if __name__ == "__main__":
    main()
