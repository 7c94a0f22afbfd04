"""Evidence packs: a self-contained archive an auditor verifies offline with `docket-verify`.

`PackWriter` writes the files of a pack (docs/evidence-pack.md describes them byte for byte) and
`write_archive` packages them; neither touches the database, so the 1M-entry benchmark uses them
too. `export_pack` selects entries, checkpoints and proofs from the database and drives the writer.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .verifier import (
    ENTRIES,
    ENTRY_FORMAT,
    KEYS,
    LEAF_HASHES,
    MANIFEST,
    PACK_FORMAT,
    README,
    WITNESS_KEYS,
    VerificationError,
    checkpoint_path,
    consistency_proof_path,
    format_consistency_proof,
    format_tlog_proof,
    inclusion_proof_path,
    parse_witness_vkey,
)

_ARCHIVE_SUFFIXES = {".tar.gz": "w:gz", ".tgz": "w:gz", ".tar": "w"}


@dataclass(frozen=True)
class ExportSummary:
    """What `export_pack` wrote."""

    path: Path
    kind: str
    entry_count: int
    first_index: int | None
    last_index: int | None
    checkpoint_size: int
    checkpoint_count: int
    size_bytes: int


class PackWriter:
    """Writes the files of one evidence pack into `directory`, recording each file's SHA-256."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.hashes: dict[str, str] = {}
        self.checkpoint_sizes: list[int] = []
        self.consistency_pairs: list[tuple[int, int]] = []

    def write_bytes(self, name: str, data: bytes) -> None:
        path = self.directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.hashes[name] = hashlib.sha256(data).hexdigest()

    def write_entries(self, rows: Iterable[tuple[int, bytes, bytes]], *, with_leaf_hashes: bool) -> list[int]:
        """Streams (index, encoded, leaf_hash) rows, in index order, into entries.jsonl (one canonical
        entry per line) and, for full packs, leaf-hashes.bin. Returns the indexes written."""
        indexes: list[int] = []
        entries_digest = hashlib.sha256()
        leaves_digest = hashlib.sha256()
        leaves_file = open(self.directory / LEAF_HASHES, "wb") if with_leaf_hashes else None  # noqa: SIM115 closed below
        try:
            with open(self.directory / ENTRIES, "wb") as entries_file:
                buffer: list[bytes] = []
                leaves: list[bytes] = []
                for index, encoded, leaf_hash in rows:
                    if b"\n" in encoded:
                        raise ValueError(
                            f"entry {index} contains a newline; format {ENTRY_FORMAT} never does"
                        )
                    if indexes and index <= indexes[-1]:
                        raise ValueError("entries must be written in increasing index order")
                    indexes.append(index)
                    buffer.append(encoded)
                    leaves.append(leaf_hash)
                    if len(buffer) >= 10_000:
                        self._flush(entries_file, buffer, entries_digest, leaves_file, leaves, leaves_digest)
                self._flush(entries_file, buffer, entries_digest, leaves_file, leaves, leaves_digest)
        finally:
            if leaves_file is not None:
                leaves_file.close()
        self.hashes[ENTRIES] = entries_digest.hexdigest()
        if with_leaf_hashes:
            self.hashes[LEAF_HASHES] = leaves_digest.hexdigest()
        return indexes

    @staticmethod
    def _flush(entries_file, buffer, entries_digest, leaves_file, leaves, leaves_digest) -> None:
        if buffer:
            chunk = b"\n".join(buffer) + b"\n"
            entries_file.write(chunk)
            entries_digest.update(chunk)
            buffer.clear()
        if leaves_file is not None and leaves:
            chunk = b"".join(bytes(leaf) for leaf in leaves)
            leaves_file.write(chunk)
            leaves_digest.update(chunk)
        leaves.clear()

    def add_checkpoint(self, tree_size: int, note: str) -> None:
        self.write_bytes(checkpoint_path(tree_size), note.encode("utf-8"))
        self.checkpoint_sizes.append(tree_size)

    def add_inclusion_proof(self, index: int, proof: Sequence[bytes], checkpoint_note: str) -> None:
        text = format_tlog_proof(index=index, proof=proof, checkpoint_note=checkpoint_note)
        self.write_bytes(inclusion_proof_path(index), text.encode("utf-8"))

    def add_consistency_proof(self, old_size: int, new_size: int, proof: Sequence[bytes]) -> None:
        text = format_consistency_proof(old_size=old_size, new_size=new_size, proof=proof)
        self.write_bytes(consistency_proof_path(old_size, new_size), text.encode("utf-8"))
        self.consistency_pairs.append((old_size, new_size))

    def add_keys(self, keys: Sequence[dict]) -> None:
        """The log's verifier keys with validity windows: informational, the verifier never trusts them."""
        self.write_bytes(
            KEYS, (json.dumps({"keys": list(keys)}, indent=2, sort_keys=True) + "\n").encode("utf-8")
        )

    def add_witness_keys(self, keys: Sequence[dict]) -> None:
        """The witness cosignature keys Docket trusts: informational, the verifier never trusts them."""
        self.write_bytes(
            WITNESS_KEYS,
            (json.dumps({"witness_keys": list(keys)}, indent=2, sort_keys=True) + "\n").encode("utf-8"),
        )

    def finish(
        self,
        *,
        kind: str,
        origin: str,
        selection: dict,
        indexes: list[int],
        created_at: dt.datetime,
    ) -> dict:
        """Writes README.md and manifest.json (which lists every other file's SHA-256); returns the manifest."""
        sizes = sorted(self.checkpoint_sizes)
        readme = auditor_readme(
            kind=kind,
            origin=origin,
            selection=selection,
            entry_count=len(indexes),
            first_index=indexes[0] if indexes else None,
            last_index=indexes[-1] if indexes else None,
            checkpoint_size=sizes[-1],
            created_at=created_at,
        )
        self.write_bytes(README, readme.encode("utf-8"))
        manifest = {
            "format": PACK_FORMAT,
            "kind": kind,
            "origin": origin,
            "entry_format": ENTRY_FORMAT,
            "selection": selection,
            "entry_count": len(indexes),
            "first_index": indexes[0] if indexes else None,
            "last_index": indexes[-1] if indexes else None,
            "checkpoints": sizes,
            "consistency_proofs": sorted([old, new] for old, new in self.consistency_pairs),
            "created_at": created_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "files": dict(sorted(self.hashes.items())),
        }
        if kind == "subject":
            manifest["indexes"] = indexes
        (self.directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        return manifest


def _archive_order(name: str) -> tuple[int, str]:
    """README and manifest first, entries.jsonl last, so a verifier can read the archive in one pass."""
    order = {README: 0, MANIFEST: 1, LEAF_HASHES: 8, ENTRIES: 9}
    if name in order:
        return order[name], name
    return {"keys": 2, "checkpoints": 3, "consistency": 4, "proofs": 5}.get(name.split("/")[0], 6), name


def write_archive(directory: Path, destination: Path, *, mtime: dt.datetime | None = None) -> Path:
    """Packages a written pack as .tar.gz/.tgz/.tar (one top-level folder named after the archive),
    or moves it to `destination` as a directory when the name has none of those suffixes."""
    directory, destination = Path(directory), Path(destination)
    suffix = next((s for s in _ARCHIVE_SUFFIXES if destination.name.endswith(s)), None)
    if suffix is None:
        shutil.move(str(directory), str(destination))
        return destination
    folder = destination.name[: -len(suffix)] or "docket-evidence"
    names = sorted(
        (path.relative_to(directory).as_posix() for path in directory.rglob("*") if path.is_file()),
        key=_archive_order,
    )
    timestamp = int((mtime or dt.datetime.now(dt.UTC)).timestamp())
    partial = destination.with_name(destination.name + ".partial")
    # compresslevel 6: the entries compress well and level 9 costs much more time for little gain.
    options = {"compresslevel": 6} if _ARCHIVE_SUFFIXES[suffix] == "w:gz" else {}
    with tarfile.open(partial, _ARCHIVE_SUFFIXES[suffix], format=tarfile.PAX_FORMAT, **options) as archive:
        for name in names:
            path = directory / name
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = path.stat().st_size
            info.mtime = timestamp
            info.mode = 0o644
            with open(path, "rb") as handle:
                archive.addfile(info, handle)
    os.replace(partial, destination)
    return destination


def auditor_readme(
    *,
    kind: str,
    origin: str,
    selection: dict,
    entry_count: int,
    first_index: int | None,
    last_index: int | None,
    checkpoint_size: int,
    created_at: dt.datetime,
) -> str:
    """The README.md inside a pack: what it holds, how to verify it, what that proves and what not."""
    described = {
        "full": f"the whole log: entries 0 to {checkpoint_size - 1}"
        if checkpoint_size
        else "the whole (empty) log",
        "range": f"entries {selection.get('start')} to {(selection.get('end') or 0) - 1} of the log",
        "subject": f"every entry about {selection.get('subject_type')} {selection.get('subject_id')}",
    }[kind]
    span = f"{entry_count} entries" + (f" (index {first_index} to {last_index})" if entry_count else "")
    how = {
        "full": "recomputes the Merkle tree from every entry and checks that it reproduces the root of every "
        "checkpoint in the pack",
        "range": "checks an inclusion proof for every entry against the newest checkpoint, and that no index in "
        "the range is missing, duplicated or out of order",
        "subject": "checks an inclusion proof for every entry against the newest checkpoint",
    }[kind]
    return f"""# Docket audit-log evidence pack

Log (checkpoint origin): `{origin}`
Contents: {described} — {span}.
Newest checkpoint: tree size {checkpoint_size}. Exported {created_at.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC.

## Verify it

You need Python 3.11+ and the `cryptography` package, and the verifier, a single file:
`docket_verify.py` (in Docket's source tree: `apps/audit/verifier.py`; installed Docket provides it
as the `docket-verify` command). Then:

    pip install cryptography
    python docket_verify.py THIS-PACK.tar.gz --key '<verifier key you obtained independently>'

Pin the key yourself: take the log's verifier key (`<name>+<key id>+<base64 key>`) from a source
you trust — Docket's published key page, your organisation's key register, or a checkpoint you
verified before. `keys/verifier-keys.json` in this pack lists the log's keys for information only;
the verifier never uses them, because whoever produced the pack could have replaced them. If the
log's key was rotated, pass every key that was valid in the period (`--key` may be repeated).

If you kept a checkpoint from an earlier visit, pass it: `--previous-checkpoint saved.checkpoint`.
The pack must then be consistent with it (same history, only appended to). If your checkpoint is
newer than this pack, ask Docket's audit API for a consistency proof from this pack's newest size and pass
it with `--consistency-proof FILE`.

If Docket sends its checkpoints to witnesses (C2SP tlog-witness), each checkpoint file carries the
witnesses' cosignature lines after the log's own signature. To check that the newest checkpoint was
seen by an independent witness, pin the witnesses' keys too (`<name>+<key id>+<base64 key>`, from the
witness operators; `keys/witness-keys.json` lists the keys Docket trusts, for information only):

    python docket_verify.py THIS-PACK.tar.gz --key '<log key>' --witness-key '<witness key>' [--min-witnesses N]

Every cosignature by a pinned witness must then verify, and the newest checkpoint must carry
cosignatures from at least N distinct pinned witnesses (default 1). Cosignatures by other keys are
ignored.

Exit status: 0 verified; 1 verification failed (the first failing entry index and the reason are
printed); 2 the command could not run (bad arguments, unreadable files).

## What a successful verification proves

The verifier {how}; every checkpoint is signed by a key you pinned; the pack's checkpoints are
consistent with each other and with any checkpoint you kept. So every entry in the pack is exactly
the entry the log holds at that index, byte for byte, in a history that was only ever appended to
since the checkpoints you trust. An entry's `timestamp`, `actor`, `action`, `subject` and `data`
are what Docket recorded when the action happened. With `--witness-key`, each witness named in the
output also stated, at the time shown, that the newest checkpoint was the largest tree of this log it
had seen, consistent with every checkpoint of it that it saw before.

## What it does not prove

- That Docket recorded every action: the log proves that recorded history was not changed, not
  that the application wrote an entry for each event.
- That a subject pack is complete: it holds the entries Docket selected for that subject; a full or
  range pack is needed to see that nothing is left out (a range pack is gap-free by construction).
- That the signing key was not misused: someone holding the private key could sign a different
  history. Keep checkpoints and compare them over time — a forked history can never be consistent
  with a checkpoint you kept — or require witness cosignatures (`--witness-key`): a witness cosigns
  only checkpoints consistent with what it saw before.
- The truth of what people entered into Docket.

## Files

- `manifest.json` — what the pack holds and the SHA-256 of every other file.
- `entries.jsonl` — each entry's canonical bytes (format {ENTRY_FORMAT}, see Docket's docs/audit-log.md),
  one per line, in index order; its RFC 6962 leaf hash is SHA-256(0x00 || line without the newline).
- `leaf-hashes.bin` — (full packs) the 32-byte leaf hash of each entry, in order.
- `checkpoints/<tree size>.checkpoint` — signed checkpoints (c2sp.org/tlog-checkpoint, c2sp.org/signed-note),
  followed by any witness cosignature lines Docket holds for them (c2sp.org/tlog-cosignature).
- `proofs/<index>.tlog-proof` — (range and subject packs) inclusion proofs (c2sp.org/tlog-proof).
- `consistency/<old>-<new>.proof` — consistency proofs between the pack's checkpoints (RFC 9162 §2.1.4).
- `keys/verifier-keys.json` — the log's verifier keys and when each was in use (informational).
- `keys/witness-keys.json` — the witness cosignature keys Docket trusts (informational).
"""


def _validate_selection(start, end, subject_type, subject_id) -> None:
    from apps.common.errors import ValidationFailed, validation_error

    if (subject_type is None) != (subject_id is None):
        raise validation_error(
            "subject_type", "A subject export needs both the subject type and the subject id."
        )
    if subject_type is not None and (start is not None or end is not None):
        raise ValidationFailed("Export either a range of indexes or one subject, not both.")
    if start is not None and start < 0:
        raise validation_error("start", "The first index cannot be negative.")
    if end is not None and end < 1:
        raise validation_error("end", "The end index (exclusive) must be at least 1.")
    if start is not None and end is not None and end <= start:
        raise validation_error("end", "The end index (exclusive) must be larger than the start index.")


def export_pack(
    *,
    destination: Path,
    start: int | None = None,
    end: int | None = None,
    subject_type: str | None = None,
    subject_id: str | None = None,
) -> ExportSummary:
    """Writes an evidence pack for entries [start, end), for one subject, or (no arguments) for the whole log.

    The pack's newest checkpoint covers every exported entry; one is signed first when the latest does
    not (that is the only change this makes). A whole-log pack lets the verifier recompute the tree and
    every checkpoint's root; range and subject packs carry a C2SP tlog-proof per entry and consistency
    proofs between their checkpoints. Entries are streamed, so memory stays flat for large logs.

    Each checkpoint file is the signed note with the witness cosignature lines stored for it appended
    (`services.checkpoint_note_with_cosignatures`); `keys/witness-keys.json` lists the configured
    witness keys for information.
    """
    from django.utils import timezone

    from apps.common.errors import ValidationFailed, validation_error

    from . import proofs, selectors, services
    from .models import AuditEntry, Checkpoint

    _validate_selection(start, end, subject_type, subject_id)
    destination = Path(destination)
    if destination.exists():
        raise validation_error("destination", f"{destination} already exists; refusing to overwrite it.")
    if not destination.parent.is_dir():
        raise validation_error("destination", f"The folder {destination.parent} does not exist.")

    last_index = AuditEntry.objects.order_by("-index").values_list("index", flat=True).first()
    log_size = 0 if last_index is None else last_index + 1
    if end is not None and end > log_size:
        raise validation_error("end", f"The log holds only {log_size} entries.")
    if start is not None and start >= log_size:
        raise validation_error("start", f"The log holds only {log_size} entries.")

    latest = selectors.latest_checkpoint()
    if latest is None or end is None or latest.tree_size < end:
        latest = services.checkpoint_sign()
    tree_size = latest.tree_size

    if subject_type is not None:
        kind = "subject"
        selection = {"subject_type": subject_type, "subject_id": str(subject_id)}
        entries = AuditEntry.objects.filter(
            subject_type=subject_type, subject_id=str(subject_id), index__lt=tree_size
        )
    elif (start or 0) == 0 and (end is None or end == tree_size):
        kind = "full"
        selection = {"start": 0, "end": tree_size}
        entries = AuditEntry.objects.filter(index__lt=tree_size)
    else:
        kind = "range"
        start, end = start or 0, end if end is not None else tree_size
        selection = {"start": start, "end": end}
        entries = AuditEntry.objects.filter(index__gte=start, index__lt=end)
    rows = entries.order_by("index").values_list("index", "encoded", "leaf_hash")

    created_at = timezone.now()
    with tempfile.TemporaryDirectory(dir=destination.parent, prefix=".docket-export-") as staging:
        writer = PackWriter(Path(staging) / "pack")
        indexes = writer.write_entries(
            ((index, bytes(encoded), bytes(leaf)) for index, encoded, leaf in rows.iterator(chunk_size=5000)),
            with_leaf_hashes=kind == "full",
        )
        if kind == "subject" and not indexes:
            raise ValidationFailed(f"The log has no entries about {subject_type} {subject_id}.")

        if kind == "full":
            # Every checkpoint ever signed up to the pack's: the verifier recomputes each root.
            checkpoint_sizes = set(
                Checkpoint.objects.filter(tree_size__lte=tree_size)
                .values_list("tree_size", flat=True)
                .iterator()
            )
        else:
            # The checkpoint that first covered each entry (the one an auditor may have kept), and the newest.
            checkpoint_sizes = {tree_size}
            if kind == "range":
                first_covering = {
                    selectors.checkpoint_covering(index=start),
                    selectors.checkpoint_covering(index=end - 1),
                }
                checkpoint_sizes.update(
                    Checkpoint.objects.filter(tree_size__gt=start, tree_size__lt=end).values_list(
                        "tree_size", flat=True
                    )
                )
                checkpoint_sizes.update(c.tree_size for c in first_covering if c is not None)
            else:
                for index in indexes:
                    covering = selectors.checkpoint_covering(index=index)
                    if covering is not None:
                        checkpoint_sizes.add(covering.tree_size)
        for checkpoint in (
            Checkpoint.objects.filter(tree_size__in=sorted(checkpoint_sizes))
            .prefetch_related("cosignatures")
            .order_by("tree_size")
            .iterator(chunk_size=500)
        ):
            writer.add_checkpoint(checkpoint.tree_size, services.checkpoint_note_with_cosignatures(checkpoint))

        if kind != "full":
            ordered = sorted(checkpoint_sizes)
            for old_size, new_size in itertools.pairwise(ordered):
                if old_size > 0:
                    writer.add_consistency_proof(
                        old_size, new_size, proofs.consistency_proof(old_size=old_size, new_size=new_size)
                    )
            for index in indexes:
                writer.add_inclusion_proof(
                    index, proofs.inclusion_proof(index=index, tree_size=tree_size), latest.note
                )

        writer.add_keys(
            [
                {
                    "vkey": key.vkey,
                    "name": key.name,
                    "key_id": key.key_id,
                    "valid_from": key.valid_from.isoformat(),
                    "valid_until": key.valid_until.isoformat() if key.valid_until else None,
                }
                for key in selectors.signing_keys()
            ]
        )
        writer.add_witness_keys(_configured_witness_keys())
        writer.finish(
            kind=kind,
            origin=latest.note.split("\n", 1)[0],
            selection=selection,
            indexes=indexes,
            created_at=created_at,
        )
        path = write_archive(writer.directory, destination, mtime=created_at)
    return ExportSummary(
        path=path,
        kind=kind,
        entry_count=len(indexes),
        first_index=indexes[0] if indexes else None,
        last_index=indexes[-1] if indexes else None,
        checkpoint_size=tree_size,
        checkpoint_count=len(checkpoint_sizes),
        size_bytes=_size_of(path),
    )


def _configured_witness_keys() -> list[dict]:
    """DOCKET_AUDIT_WITNESS_KEYS for the pack's information file; a key that does not parse is listed
    with the reason (the system check `audit.E002` reports it too) rather than refusing the export."""
    from django.conf import settings

    keys = []
    for text in settings.DOCKET_AUDIT_WITNESS_KEYS:
        try:
            key = parse_witness_vkey(text)
        except VerificationError as exc:
            keys.append({"vkey": text, "error": f"does not parse: {exc}"})
        else:
            keys.append({"vkey": key.vkey(), "name": key.name, "key_id": key.key_id.hex()})
    return keys


def _size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())
