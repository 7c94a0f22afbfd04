"""Offline verification of a 1,000,000-entry full evidence pack, beside the raw cost of its hashing.

Builds a synthetic pack without PostgreSQL but through the same code as `manage.py audit export`:
entries in the real canonical encoding (apps.audit.encoding.encode_entry), files written by
apps.audit.evidence.PackWriter and packaged by write_archive, checkpoints signed as C2SP notes with a
throwaway Ed25519 key every 1,000 entries (Docket's default bound on uncheckpointed entries). Then it
times `docket-verify` (a separate, single-threaded process, as an auditor runs it; wall and CPU time) on the .tar.gz
and on the extracted directory, and hashes the same bytes with hashlib in the same run.

    .venv/bin/python benchmarks/audit_verify_pack.py [--entries 1000000] [--checkpoint-every 1000]

Target (issue 3): ≤ 10 s for 1M entries on one core; SHA-256 alone needs ~2M hashes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from apps.audit.encoding import ActorRef, SubjectRef, encode_entry, leaf_hash
from apps.audit.evidence import PackWriter, write_archive
from apps.audit.signing import generate_signer, sign_note
from apps.audit.verifier import TreeBuilder, format_checkpoint

ORIGIN = "benchmark.docket.example/audit"
ACTIONS = (
    "registry.model_version.registered",
    "registry.deployment.status_changed",
    "accounts.team.member_added",
    "registry.dataset_version.registered",
)


def synthetic_entries(count: int):
    """Realistic-looking entries: varied actors, subjects, before/after data and request ids."""
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for index in range(count):
        action = ACTIONS[index % len(ACTIONS)]
        yield (
            index,
            encode_entry(
                index=index,
                timestamp=start + dt.timedelta(milliseconds=37 * index),
                actor=ActorRef(type="user", id=str(1 + index % 97), name=f"Reviewer {index % 97}"),
                action=action,
                subject=SubjectRef(
                    type="registry.modelversion", id=str(index // 3), label=f"credit-scoring v{index // 3}"
                ),
                data={
                    "before": {"status": "staging"} if index % 2 else None,
                    "after": {
                        "status": "production",
                        "sha256": hashlib.sha256(index.to_bytes(8, "big")).hexdigest(),
                    },
                    "reason": f"Quarterly revalidation passed — ticket MRM-{index % 5000}",
                },
                request_id=f"req-{index:012x}",
            ),
        )


def build_pack(directory: Path, count: int, every: int) -> tuple[Path, str, int]:
    signer = generate_signer(ORIGIN)
    writer = PackWriter(directory / "staging")
    tree = TreeBuilder()
    checkpoints: list[tuple[int, str]] = []

    def rows():
        for index, encoded in synthetic_entries(count):
            leaf = leaf_hash(encoded)
            tree.append(leaf)
            if tree.size % every == 0 or tree.size == count:
                checkpoints.append(
                    (tree.size, sign_note(format_checkpoint(ORIGIN, tree.size, tree.root()), signer))
                )
            yield index, encoded, leaf

    indexes = writer.write_entries(rows(), with_leaf_hashes=True)
    for size, note in checkpoints:
        writer.add_checkpoint(size, note)
    writer.add_keys(
        [
            {
                "vkey": signer.vkey,
                "name": signer.name,
                "key_id": signer.key_id.hex(),
                "valid_from": "2026-01-01T00:00:00+00:00",
                "valid_until": None,
            }
        ]
    )
    writer.finish(
        kind="full",
        origin=ORIGIN,
        selection={"start": 0, "end": count},
        indexes=indexes,
        created_at=dt.datetime.now(dt.UTC),
    )
    extracted = directory / "pack"
    shutil.copytree(writer.directory, extracted)
    archive = write_archive(writer.directory, directory / "pack.tar.gz")
    return archive, signer.vkey, len(checkpoints)


def raw_hash_seconds(entries_file: Path) -> tuple[float, float]:
    """Seconds for the ~2n SHA-256 calls of the tree (n leaves, n-1 nodes) and for one SHA-256 pass
    over the file, with hashlib and no other work."""
    lines = entries_file.read_bytes().split(b"\n")[:-1]
    sha = hashlib.sha256
    started = time.perf_counter()
    level = [sha(b"\x00" + line).digest() for line in lines]
    while len(level) > 1:
        paired = [sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    tree_seconds = time.perf_counter() - started
    data = entries_file.read_bytes()
    started = time.perf_counter()
    sha(data).digest()
    return tree_seconds, time.perf_counter() - started


def time_verifier(target: Path, vkey: str, *extra: str) -> tuple[float, float, str]:
    """Wall-clock and CPU seconds (user + system) of one `docket-verify` process. The verifier is
    single-threaded, so its CPU time is its cost on one core even when other work shares the machine."""
    command = [sys.executable, "-m", "apps.audit.verifier", str(target), "--key", vkey, *extra]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(
        command, check=False, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent
    )
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"verification failed unexpectedly:\n{result.stdout}{result.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu, result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--checkpoint-every", type=int, default=1000)
    parser.add_argument("--keep", action="store_true", help="keep the pack in a temporary folder")
    args = parser.parse_args()

    directory = Path(tempfile.mkdtemp(prefix="docket-bench-pack-"))
    try:
        started = time.perf_counter()
        archive, vkey, checkpoint_count = build_pack(directory, args.entries, args.checkpoint_every)
        build_seconds = time.perf_counter() - started
        entries_file = directory / "pack" / "entries.jsonl"
        size_mb = entries_file.stat().st_size / 1e6
        print(
            f"pack: {args.entries:,} entries ({size_mb:.0f} MB canonical JSON), {checkpoint_count:,} signed "
            f"checkpoints, archive {archive.stat().st_size / 1e6:.0f} MB; built in {build_seconds:.1f} s"
        )

        tree_seconds, bulk_seconds = raw_hash_seconds(entries_file)
        with tarfile.open(archive, "r|gz") as stream:
            started = time.perf_counter()
            for member in stream:
                if member.isfile():
                    handle = stream.extractfile(member)
                    while handle.read(1 << 23):
                        pass
            gunzip_seconds = time.perf_counter() - started

        archive_seconds, archive_cpu, report = time_verifier(archive, vkey)
        directory_seconds, directory_cpu, _ = time_verifier(directory / "pack", vkey)
        encoding_seconds, encoding_cpu, _ = time_verifier(directory / "pack", vkey, "--check-encoding")

        print()
        print(f"{'measurement (single-threaded)':<62}{'wall s':>9}{'CPU s':>9}")
        tree_label = f"hashlib: {2 * args.entries - 1:,} SHA-256 calls of the RFC 6962 tree"
        print(f"{tree_label:<62}{tree_seconds:>9.2f}")
        print(f"{'hashlib: one SHA-256 pass over entries.jsonl (manifest check)':<62}{bulk_seconds:>9.2f}")
        print(f"{'tarfile: gunzip + untar the archive, nothing else':<62}{gunzip_seconds:>9.2f}")
        print(f"{'docket-verify pack.tar.gz':<62}{archive_seconds:>9.2f}{archive_cpu:>9.2f}")
        print(f"{'docket-verify extracted directory':<62}{directory_seconds:>9.2f}{directory_cpu:>9.2f}")
        print(
            f"{'docket-verify extracted directory --check-encoding':<62}{encoding_seconds:>9.2f}{encoding_cpu:>9.2f}"
        )
        print()
        limit = 10 * args.entries / 1e6
        print(
            f"target <= {limit:g} s of one core: {'met' if archive_cpu <= limit else 'NOT met'} "
            f"(pack.tar.gz: {archive_cpu:.2f} s CPU = {archive_cpu / tree_seconds:.1f}x the bare tree hashing)"
        )
        print()
        print(report.rstrip())
        if args.keep:
            print(f"\npack kept in {directory}")
    finally:
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
