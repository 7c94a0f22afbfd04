"""Evidence packs exported from a real PostgreSQL log, verified, then tampered with on copies.

Each tampering models a capable attacker: after changing the pack they also rewrite manifest.json's
file hashes (the manifest is not signed), so only the cryptographic checks can catch them.
"""

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import transaction

from apps.accounts.models import User
from apps.audit import selectors, services
from apps.audit.actions import Action
from apps.audit.evidence import export_pack
from apps.audit.models import AuditEntry, Checkpoint
from apps.audit.services import SYSTEM, record
from apps.audit.signing import generate_signer, sign_note
from apps.audit.verifier import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    VerificationError,
    format_checkpoint,
    format_consistency_proof,
    hash_leaf,
    parse_checkpoint,
    parse_consistency_proof,
    parse_tlog_proof,
    parse_vkey,
    verify_pack,
)
from apps.common.errors import ValidationFailed

pytestmark = pytest.mark.django_db

ENTRY_COUNT = 30


@pytest.fixture
def log():
    """30 entries recorded through the real writer, with checkpoints signed after 10, 20 and 30."""
    users = [
        User.objects.create(username=f"user{i}", first_name="Grace", last_name=f"Hopper {i}")
        for i in range(3)
    ]
    for index in range(ENTRY_COUNT):
        with transaction.atomic():
            record(
                actor=users[index % 3],
                action=Action.ACCOUNTS_USER_ROLES_CHANGED,
                subject=users[index % 3],
                data={
                    "before": ["submitter"],
                    "after": ["submitter", "validator"],
                    "step": index,
                    "ratio": 0.25,
                },
            )
        if (index + 1) % 10 == 0:
            services.checkpoint_sign(actor=SYSTEM)
    return users


@pytest.fixture
def key():
    return parse_vkey(selectors.signing_keys().get().vkey)


@pytest.fixture
def full_pack(log, tmp_path):
    export_pack(destination=tmp_path / "full")
    return tmp_path / "full"


def _copy(pack: Path, tmp_path: Path, name: str) -> Path:
    copy = tmp_path / name
    shutil.copytree(pack, copy)
    return copy


def _refresh_manifest(pack: Path) -> None:
    manifest_path = pack / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"] = {
        path.relative_to(pack).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(pack.rglob("*"))
        if path.is_file() and path.name != "manifest.json"
    }
    manifest_path.write_text(json.dumps(manifest, indent=2))


def _lines(pack: Path) -> list[bytes]:
    return (pack / "entries.jsonl").read_bytes().split(b"\n")[:-1]


def _write_lines(pack: Path, lines: list[bytes]) -> None:
    (pack / "entries.jsonl").write_bytes(b"".join(line + b"\n" for line in lines))


def _failure(pack: Path, key, **kwargs) -> VerificationError:
    with pytest.raises(VerificationError) as caught:
        verify_pack(pack, keys=[key], **kwargs)
    return caught.value


# -- exports that verify ----------------------------------------------------------------------------


def test_a_full_export_verifies_and_recomputes_every_checkpoint(full_pack, key):
    report = verify_pack(full_pack, keys=[key], check_encoding=True)
    assert (report.kind, report.entry_count, report.first_index, report.last_index) == ("full", 30, 0, 29)
    assert report.checkpoint_sizes == (10, 20, 30) and report.root_recomputed
    lines = _lines(full_pack)
    stored = AuditEntry.objects.order_by("index").values_list("encoded", flat=True)
    assert lines == [bytes(encoded) for encoded in stored]
    assert (full_pack / "checkpoints/30.checkpoint").read_text() == Checkpoint.objects.get(tree_size=30).note


def test_an_export_signs_a_checkpoint_when_the_latest_does_not_cover_the_log(log, tmp_path, key):
    with transaction.atomic():
        record(actor=log[0], action=Action.ACCOUNTS_USER_DEACTIVATED, subject=log[0], data={})
    summary = export_pack(destination=tmp_path / "pack.tar.gz")
    assert summary.checkpoint_size == 31 and Checkpoint.objects.filter(tree_size=31).exists()
    assert verify_pack(summary.path, keys=[key]).entry_count == 31


def test_a_range_export_carries_tlog_proofs_and_consistency_proofs(log, tmp_path, key):
    summary = export_pack(destination=tmp_path / "range", start=5, end=17)
    assert (summary.kind, summary.entry_count, summary.first_index, summary.last_index) == (
        "range",
        12,
        5,
        16,
    )
    proof = parse_tlog_proof((tmp_path / "range/proofs/9.tlog-proof").read_text())
    assert (
        proof.index == 9 and parse_checkpoint(proof.checkpoint_note.split("\n\n")[0] + "\n").tree_size == 30
    )
    assert sorted(p.name for p in (tmp_path / "range/consistency").iterdir()) == [
        "10-20.proof",
        "20-30.proof",
    ]
    assert verify_pack(tmp_path / "range", keys=[key]).entry_count == 12


def test_a_subject_export_holds_exactly_that_subjects_entries(log, tmp_path, key):
    subject = log[1]
    summary = export_pack(
        destination=tmp_path / "subject.tgz", subject_type="accounts.user", subject_id=str(subject.pk)
    )
    expected = list(
        AuditEntry.objects.filter(subject_type="accounts.user", subject_id=str(subject.pk)).values_list(
            "index", flat=True
        )
    )
    assert summary.entry_count == len(expected) == 10
    report = verify_pack(summary.path, keys=[key])
    assert (report.kind, report.first_index, report.last_index) == ("subject", expected[0], expected[-1])


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"subject_type": "accounts.user"}, "subject_type"),  # subject type without id
        ({"start": 10, "end": 10}, "end"),  # empty range
        ({"start": -1}, "start"),  # negative start
        ({"end": 31}, "end"),  # beyond the log
        ({"start": 30}, "start"),  # starts after the last entry
    ],
)
def test_export_refuses_bad_selections_and_changes_nothing(log, tmp_path, arguments, field):
    checkpoints_before = Checkpoint.objects.count()
    with pytest.raises(ValidationFailed) as caught:
        export_pack(destination=tmp_path / "pack.tar.gz", **arguments)
    assert field in caught.value.field_errors
    assert Checkpoint.objects.count() == checkpoints_before
    assert list(tmp_path.iterdir()) == []


def test_export_refuses_to_overwrite_an_existing_destination(log, tmp_path):
    existing = tmp_path / "pack.tar.gz"
    existing.write_bytes(b"keep me")
    with pytest.raises(ValidationFailed, match="already exists"):
        export_pack(destination=existing)
    assert existing.read_bytes() == b"keep me"


def test_manage_py_audit_export_writes_a_verifiable_pack(log, tmp_path, key):
    call_command("audit", "export", str(tmp_path / "cmd.tar.gz"))
    assert verify_pack(tmp_path / "cmd.tar.gz", keys=[key]).entry_count == 30


# -- tampering with a full pack -----------------------------------------------------------------------


def test_flipping_a_byte_in_an_entry_names_that_entry(full_pack, key, tmp_path):
    pack = _copy(full_pack, tmp_path, "flipped")
    lines = _lines(pack)
    lines[13] = lines[13].replace(b"Grace", b"Grade", 1)
    _write_lines(pack, lines)
    _refresh_manifest(pack)
    failure = _failure(pack, key)
    assert failure.index == 13 and "leaf hash" in failure.reason


def test_flipping_an_entry_and_its_leaf_hash_together_is_caught_by_the_signed_root(full_pack, key, tmp_path):
    pack = _copy(full_pack, tmp_path, "flipped-both")
    lines = _lines(pack)
    lines[13] = lines[13].replace(b"Grace", b"Grade", 1)
    _write_lines(pack, lines)
    leaves = bytearray((pack / "leaf-hashes.bin").read_bytes())
    leaves[13 * 32 : 14 * 32] = hash_leaf(lines[13])
    (pack / "leaf-hashes.bin").write_bytes(bytes(leaves))
    _refresh_manifest(pack)
    failure = _failure(pack, key)
    assert failure.index == 19 and "root signed at tree size 20" in failure.reason


def test_deleting_an_entry_names_the_first_entry_out_of_place(full_pack, key, tmp_path):
    pack = _copy(full_pack, tmp_path, "deleted")
    lines = _lines(pack)
    del lines[7]
    _write_lines(pack, lines)
    leaves = (pack / "leaf-hashes.bin").read_bytes()
    (pack / "leaf-hashes.bin").write_bytes(leaves[: 7 * 32] + leaves[8 * 32 :] + leaves[7 * 32 : 8 * 32])
    _refresh_manifest(pack)
    failure = _failure(pack, key)
    assert failure.index == 7 and "index field does not match its position" in failure.reason


def test_inserting_an_entry_names_the_insertion_point(full_pack, key, tmp_path):
    pack = _copy(full_pack, tmp_path, "inserted")
    lines = _lines(pack)
    lines.insert(4, lines[4].replace(b"Grace", b"Mallory", 1))
    _write_lines(pack, lines)
    _refresh_manifest(pack)
    assert _failure(pack, key).index == 4


def test_swapping_two_entries_names_the_first_of_them(full_pack, key, tmp_path):
    pack = _copy(full_pack, tmp_path, "swapped")
    lines = _lines(pack)
    lines[3], lines[21] = lines[21], lines[3]
    leaves = bytearray((pack / "leaf-hashes.bin").read_bytes())
    leaves[3 * 32 : 4 * 32], leaves[21 * 32 : 22 * 32] = leaves[21 * 32 : 22 * 32], leaves[3 * 32 : 4 * 32]
    (pack / "leaf-hashes.bin").write_bytes(bytes(leaves))
    _write_lines(pack, lines)
    _refresh_manifest(pack)
    assert _failure(pack, key).index == 3


def test_truncating_the_tail_names_the_first_missing_entry(full_pack, key, tmp_path):
    pack = _copy(full_pack, tmp_path, "truncated")
    _write_lines(pack, _lines(pack)[:25])
    _refresh_manifest(pack)
    failure = _failure(pack, key)
    assert failure.index == 25 and "tail is missing" in failure.reason


def test_a_checkpoint_re_signed_with_a_wrong_key_is_refused(full_pack, key, tmp_path):
    pack = _copy(full_pack, tmp_path, "resigned")
    note = (pack / "checkpoints/20.checkpoint").read_text()
    text = note.split("\n\n")[0] + "\n"
    (pack / "checkpoints/20.checkpoint").write_text(
        sign_note(text, generate_signer(parse_checkpoint(text).origin))
    )
    _refresh_manifest(pack)
    failure = _failure(pack, key)
    assert "checkpoints/20.checkpoint" in failure.reason and "not signed by any trusted key" in failure.reason


def test_a_history_rewritten_by_the_key_holder_is_caught_by_a_kept_checkpoint(full_pack, key, tmp_path):
    """The worst case: someone with the database and the private key rewrites entry 5 and re-signs
    every checkpoint. The pack is self-consistent; the checkpoint the auditor kept exposes the fork."""
    kept = Checkpoint.objects.get(tree_size=20).note
    pack = _copy(full_pack, tmp_path, "rewritten")
    lines = _lines(pack)
    lines[5] = lines[5].replace(b"validator", b"approver__", 1)
    _write_lines(pack, lines)
    leaves = [hash_leaf(line) for line in lines]
    (pack / "leaf-hashes.bin").write_bytes(b"".join(leaves))
    from apps.audit.signing import load_signer
    from apps.audit.verifier import root_from_leaf_hashes

    signer = load_signer()
    origin = parse_checkpoint(kept.split("\n\n")[0] + "\n").origin
    for size in (10, 20, 30):
        note = sign_note(format_checkpoint(origin, size, root_from_leaf_hashes(leaves[:size])), signer)
        (pack / f"checkpoints/{size}.checkpoint").write_text(note)
    _refresh_manifest(pack)
    assert verify_pack(pack, keys=[key]).entry_count == 30  # alone, the forgery is self-consistent
    failure = _failure(pack, key, kept_checkpoints=[kept])
    assert "two different signed roots for tree size 20" in failure.reason and failure.index == 20


def test_a_pack_rolled_back_behind_a_kept_checkpoint_is_refused(full_pack, key, tmp_path):
    """The pack is cut back to checkpoint 20, hiding entries 20-29 that the auditor's kept checkpoint covers."""
    kept_note = Checkpoint.objects.get(tree_size=30).note
    pack = _copy(full_pack, tmp_path, "rolled-back")
    _write_lines(pack, _lines(pack)[:20])
    (pack / "leaf-hashes.bin").write_bytes((pack / "leaf-hashes.bin").read_bytes()[: 20 * 32])
    (pack / "checkpoints/30.checkpoint").unlink()
    manifest = json.loads((pack / "manifest.json").read_text())
    manifest["checkpoints"] = [10, 20]
    (pack / "manifest.json").write_text(json.dumps(manifest))
    _refresh_manifest(pack)
    assert verify_pack(pack, keys=[key]).entry_count == 20  # alone, an older pack is a valid prefix
    failure = _failure(pack, key, kept_checkpoints=[kept_note])
    assert failure.index == 20 and "rolled back or stale" in failure.reason
    # With the consistency proof 20 -> 30 from the log, the older pack is accepted as a true prefix.
    from apps.audit.proofs import consistency_proof

    proof = parse_consistency_proof(
        format_consistency_proof(old_size=20, new_size=30, proof=consistency_proof(old_size=20, new_size=30))
    )
    report = verify_pack(pack, keys=[key], kept_checkpoints=[kept_note], consistency_proofs=[proof])
    assert report.kept_checkpoint_sizes == (30,)


# -- tampering with a partial pack -------------------------------------------------------------------


def test_tampering_with_an_inclusion_proof_names_its_entry(log, tmp_path, key):
    export_pack(destination=tmp_path / "range", start=5, end=17)
    pack = tmp_path / "range"
    proof_file = pack / "proofs/11.tlog-proof"
    lines = proof_file.read_text().split("\n")
    lines[2] = ("B" if lines[2][0] != "B" else "C") + lines[2][1:]  # first proof hash
    proof_file.write_text("\n".join(lines))
    _refresh_manifest(pack)
    failure = _failure(pack, key)
    assert failure.index == 11 and "inclusion proof" in failure.reason


def test_deleting_an_entry_from_a_range_pack_names_it(log, tmp_path, key):
    export_pack(destination=tmp_path / "range", start=5, end=17)
    pack = tmp_path / "range"
    lines = _lines(pack)
    del lines[3]  # entry 8
    _write_lines(pack, lines)
    (pack / "proofs/8.tlog-proof").unlink()
    _refresh_manifest(pack)
    failure = _failure(pack, key)
    assert failure.index == 8 and "should hold entry 8" in failure.reason


def test_an_edited_file_without_a_manifest_update_is_refused(full_pack, key, tmp_path):
    pack = _copy(full_pack, tmp_path, "readme")
    (pack / "README.md").write_text("Trust me.\n")
    failure = _failure(pack, key)
    assert "README.md does not match its SHA-256" in failure.reason


# -- the console script -------------------------------------------------------------------------------


def test_docket_verify_console_script_exit_codes(log, tmp_path, key):
    archive = export_pack(destination=tmp_path / "pack.tar.gz").path
    script = Path(sys.executable).with_name("docket-verify")
    ok = subprocess.run([script, archive, "--key", key.vkey()], check=False, capture_output=True, text=True)
    assert ok.returncode == EXIT_OK, ok.stdout + ok.stderr
    assert "docket-verify: OK" in ok.stdout and "keys inside the pack were not used" in ok.stdout

    pack = tmp_path / "tampered"
    export_pack(destination=pack)
    lines = _lines(pack)
    lines[17] = lines[17].replace(b"Hopper", b"Hoppex", 1)
    _write_lines(pack, lines)
    failed = subprocess.run([script, pack, "--key", key.vkey()], check=False, capture_output=True, text=True)
    assert failed.returncode == EXIT_FAILED
    assert failed.stdout.startswith("docket-verify: FAILED at entry 17:")

    usage = subprocess.run(
        [script, tmp_path / "nothing-here", "--key", key.vkey()], check=False, capture_output=True, text=True
    )
    assert usage.returncode == EXIT_USAGE and "no such file" in usage.stderr
