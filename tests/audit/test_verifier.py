"""The offline verifier's primitives and pack checks, on packs built without the database."""

import base64
import datetime as dt
import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from apps.audit.encoding import ActorRef, SubjectRef, encode_entry, leaf_hash
from apps.audit.evidence import PackWriter, write_archive
from apps.audit.signing import generate_signer, sign_note
from apps.audit.verifier import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Checkpoint,
    VerificationError,
    format_checkpoint,
    format_consistency_proof,
    format_tlog_proof,
    format_vkey,
    hash_children,
    key_id,
    main,
    open_note,
    parse_checkpoint,
    parse_consistency_proof,
    parse_tlog_proof,
    parse_vkey,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
    verify_pack,
)

ORIGIN = "docket.test/audit"


# -- a reference RFC 9162 implementation, written from the recursive definitions -------------------


def _mth(leaves):
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hash_children(_mth(leaves[:k]), _mth(leaves[k:]))


def _path(m, leaves):
    if len(leaves) == 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if m < k:
        return _path(m, leaves[:k]) + [_mth(leaves[k:])]
    return _path(m - k, leaves[k:]) + [_mth(leaves[:k])]


def _subproof(m, leaves, complete):
    n = len(leaves)
    if m == n:
        return [] if complete else [_mth(leaves)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return _subproof(m, leaves[:k], complete) + [_mth(leaves[k:])]
    return _subproof(m - k, leaves[k:], False) + [_mth(leaves[:k])]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 8, 9, 16, 17, 31])
def test_inclusion_and_consistency_proofs_of_every_leaf_and_size_verify(size):
    leaves = [leaf_hash(b"entry %d" % i) for i in range(size)]
    root = root_from_leaf_hashes(leaves)
    assert root == _mth(leaves)
    for index in range(size):
        verify_inclusion(
            leaf_index=index, tree_size=size, leaf_hash=leaves[index], proof=_path(index, leaves), root=root
        )
    for old in range(1, size):
        proof = _subproof(old, leaves, True)
        verify_consistency(
            old_size=old, new_size=size, old_root=_mth(leaves[:old]), new_root=root, proof=proof
        )
        with pytest.raises(VerificationError):
            verify_consistency(
                old_size=old, new_size=size, old_root=_mth(leaves[:old]), new_root=leaves[0], proof=proof
            )


def test_inclusion_failure_names_the_leaf_index():
    leaves = [leaf_hash(b"%d" % i) for i in range(6)]
    with pytest.raises(VerificationError) as caught:
        verify_inclusion(
            leaf_index=4, tree_size=6, leaf_hash=leaves[3], proof=_path(4, leaves), root=_mth(leaves)
        )
    assert caught.value.index == 4


# -- keys, notes, checkpoints, proof files -----------------------------------------------------------


def test_vkey_round_trip_and_key_id_follow_c2sp():
    public = bytes(range(32))
    text = format_vkey("example.com/log", public)
    key = parse_vkey(text)
    assert key.public_key == public and key.name == "example.com/log"
    assert key.key_id == key_id("example.com/log", public)
    _, hex_id, encoded = text.split("+", 2)
    assert base64.b64decode(encoded) == b"\x01" + public and len(hex_id) == 8


@pytest.mark.parametrize(
    "bad",
    [
        "example.com/log+00000000+" + base64.b64encode(b"\x01" + bytes(32)).decode(),  # wrong key id
        "example.com/log+" + "0" * 8,  # missing key
        "example.com/log+zzzzzzzz+AAAA",  # non-hex id
        "ex ample+00000000+" + base64.b64encode(b"\x01" + bytes(32)).decode(),
    ],  # space in name
)
def test_parse_vkey_refuses_malformed_keys(bad):
    with pytest.raises(VerificationError):
        parse_vkey(bad)


def test_open_note_ignores_unknown_signatures_and_rejects_a_bad_known_one():
    ours, other = generate_signer(ORIGIN), generate_signer("witness.example")
    text = format_checkpoint(ORIGIN, 3, bytes(32))
    note = sign_note(text, ours)
    with_witness = note + sign_note(text, other).split("\n\n")[1]
    assert open_note(with_witness, [ours.verifier_key]) == (text, [ours.verifier_key])
    impostor = generate_signer(ORIGIN)  # same name, different key: a different key ID, so ignored
    with pytest.raises(VerificationError, match="not signed by any trusted key"):
        open_note(sign_note(text, impostor), [ours.verifier_key])
    forged = note.replace(note.split(" ")[-1], base64.b64encode(ours.key_id + bytes(64)).decode() + "\n")
    with pytest.raises(VerificationError, match="does not verify"):
        open_note(forged, [ours.verifier_key])


@pytest.mark.parametrize(
    "note",
    [
        "no signatures\n",
        "text\n\n- docket.test/audit AAAA\n",
        "text\n\n\u2014 docket.test/audit !!!\n",
        "text\n\n",
    ],
)
def test_open_note_refuses_malformed_notes(note):
    with pytest.raises(VerificationError, match="malformed|base64"):
        open_note(note, [generate_signer(ORIGIN).verifier_key])


def test_checkpoint_round_trip_and_refusals():
    root = bytes(range(32))
    text = format_checkpoint(ORIGIN, 20852163, root)
    assert parse_checkpoint(text) == Checkpoint(
        origin=ORIGIN, tree_size=20852163, root_hash=root, extensions=()
    )
    assert parse_checkpoint(text + "ext\n").extensions == ("ext",)
    for bad in [
        f"{ORIGIN}\n012\n{base64.b64encode(root).decode()}\n",
        f"{ORIGIN}\n12\nAAAA\n",
        f"{ORIGIN}\n12\n",
        f"{ORIGIN}\n-1\n{base64.b64encode(root).decode()}\n",
    ]:
        with pytest.raises(VerificationError):
            parse_checkpoint(bad)


def test_tlog_proof_and_consistency_files_round_trip():
    note = sign_note(format_checkpoint(ORIGIN, 5, bytes(32)), generate_signer(ORIGIN))
    proof = [bytes([i]) * 32 for i in range(3)]
    text = format_tlog_proof(index=4, proof=proof, checkpoint_note=note)
    assert text.startswith("c2sp.org/tlog-proof@v1\nindex 4\n")
    parsed = parse_tlog_proof(text)
    assert (parsed.index, list(parsed.proof), parsed.checkpoint_note) == (4, proof, note)
    consistency = parse_consistency_proof(format_consistency_proof(old_size=2, new_size=5, proof=proof))
    assert (consistency.old_size, consistency.new_size, list(consistency.proof)) == (2, 5, proof)
    from_api = json.dumps(
        {"old_size": 2, "new_size": 5, "proof": [base64.b64encode(p).decode() for p in proof]}
    )
    assert parse_consistency_proof(from_api) == consistency


# -- packs built from the pure writer ---------------------------------------------------------------


def _entries(count):
    at = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    return [
        encode_entry(
            index=i,
            timestamp=at,
            actor=ActorRef("user", "7", "Ada Lovelace"),
            action="registry.model.created",
            subject=SubjectRef("registry.model", str(i % 3), f"model {i % 3}"),
            data={"n": i, "ü": "—"},
            request_id=None,
        )
        for i in range(count)
    ]


def _build(
    tmp_path, *, count=40, sizes=(10, 25, 40), kind="full", start=0, end=None, signer=None, name="pack.tar.gz"
):
    signer = signer or generate_signer(ORIGIN)
    entries = _entries(max(sizes))
    leaves = [leaf_hash(e) for e in entries]
    notes = {size: sign_note(format_checkpoint(ORIGIN, size, _mth(leaves[:size])), signer) for size in sizes}
    writer = PackWriter(tmp_path / f"staging-{name}")
    end = count if end is None else end
    chosen = range(start, end)
    indexes = writer.write_entries(
        ((i, entries[i], leaves[i]) for i in chosen), with_leaf_hashes=kind == "full"
    )
    for size in sizes:
        writer.add_checkpoint(size, notes[size])
    newest = max(sizes)
    if kind != "full":
        ordered = sorted(sizes)
        for old, new in itertools.pairwise(ordered):
            writer.add_consistency_proof(old, new, _subproof(old, leaves[:new], True))
        for i in indexes:
            writer.add_inclusion_proof(i, _path(i, leaves[:newest]), notes[newest])
    writer.add_keys([{"vkey": signer.vkey}])
    writer.finish(
        kind=kind,
        origin=ORIGIN,
        selection={"start": start, "end": end},
        indexes=indexes,
        created_at=dt.datetime.now(dt.UTC),
    )
    return write_archive(writer.directory, tmp_path / name), signer, notes, leaves


@pytest.mark.parametrize("name", ["pack.tar.gz", "pack.tar", "pack-directory"])
def test_a_full_pack_verifies_in_every_container(tmp_path, name):
    path, signer, _, _ = _build(tmp_path, name=name)
    report = verify_pack(path, keys=[signer.verifier_key], check_encoding=True)
    assert (report.kind, report.entry_count, report.checkpoint_sizes, report.root_recomputed) == (
        "full",
        40,
        (10, 25, 40),
        True,
    )


def test_a_range_pack_verifies_each_entry_through_its_tlog_proof(tmp_path):
    path, signer, _, _ = _build(tmp_path, kind="range", start=12, end=30)
    report = verify_pack(path, keys=[signer.verifier_key])
    assert (report.kind, report.entry_count, report.first_index, report.last_index) == ("range", 18, 12, 29)


def test_the_keys_inside_the_pack_are_never_trusted(tmp_path):
    path, _, _, _ = _build(tmp_path)
    stranger = generate_signer(ORIGIN)
    with pytest.raises(VerificationError, match="not signed by any trusted key"):
        verify_pack(path, keys=[stranger.verifier_key])


def test_a_kept_checkpoint_from_a_forked_log_is_detected(tmp_path):
    path, signer, _, leaves = _build(tmp_path)
    forked_root = _mth([leaf_hash(b"rewritten")] + leaves[1:17])
    kept = sign_note(format_checkpoint(ORIGIN, 17, forked_root), signer)
    with pytest.raises(VerificationError, match="do not produce the root signed at tree size 17"):
        verify_pack(path, keys=[signer.verifier_key], kept_checkpoints=[kept])
    honest = sign_note(format_checkpoint(ORIGIN, 17, _mth(leaves[:17])), signer)
    assert verify_pack(path, keys=[signer.verifier_key], kept_checkpoints=[honest]).kept_checkpoint_sizes == (
        17,
    )


def test_a_kept_checkpoint_newer_than_the_pack_needs_a_consistency_proof(tmp_path):
    path, signer, _, leaves = _build(tmp_path, count=40, sizes=(10, 40))
    more = leaves + [leaf_hash(b"later %d" % i) for i in range(9)]
    kept = sign_note(format_checkpoint(ORIGIN, 49, _mth(more)), signer)
    with pytest.raises(VerificationError) as caught:
        verify_pack(path, keys=[signer.verifier_key], kept_checkpoints=[kept])
    assert caught.value.index == 40 and "rolled back or stale" in caught.value.reason
    proof = parse_consistency_proof(
        format_consistency_proof(old_size=40, new_size=49, proof=_subproof(40, more, True))
    )
    report = verify_pack(
        path, keys=[signer.verifier_key], kept_checkpoints=[kept], consistency_proofs=[proof]
    )
    assert report.kept_checkpoint_sizes == (49,)


def test_docket_verify_exit_codes_and_messages(tmp_path, capsys):
    path, signer, _, _ = _build(tmp_path)
    assert main([str(path), "--key", signer.vkey]) == EXIT_OK
    assert "docket-verify: OK" in capsys.readouterr().out
    key_file = tmp_path / "keys.txt"
    key_file.write_text(f"# the log's keys\n{generate_signer('old.example').vkey}\n{signer.vkey}\n")
    assert main([str(path), "--key", str(key_file)]) == EXIT_OK
    capsys.readouterr()
    assert main([str(path), "--key", generate_signer(ORIGIN).vkey]) == EXIT_FAILED
    assert "FAILED at pack: checkpoint checkpoints/10.checkpoint" in capsys.readouterr().out
    assert main([str(tmp_path / "missing.tar.gz"), "--key", signer.vkey]) == EXIT_USAGE
    assert main([str(path), "--key", "not-a-key"]) == EXIT_USAGE
    assert (
        main([str(path), "--key", signer.vkey, "--previous-checkpoint", str(tmp_path / "nope")]) == EXIT_USAGE
    )


def test_the_verifier_module_runs_with_only_the_standard_library_and_cryptography(tmp_path):
    """An auditor copies the one file and runs it: no Django, no Docket package on the path."""
    path, signer, _, _ = _build(tmp_path)
    copy = tmp_path / "docket_verify.py"
    copy.write_text((Path(__file__).parents[2] / "apps/audit/verifier.py").read_text())
    code = "import sys; sys.modules['django'] = None; sys.argv = sys.argv[1:]; import runpy; runpy.run_path(sys.argv[0], run_name='__main__')"
    result = subprocess.run(
        [sys.executable, "-I", "-c", code, str(copy), str(path), "--key", signer.vkey],
        check=False,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == EXIT_OK, result.stdout + result.stderr
    assert "docket-verify: OK" in result.stdout


def test_a_signature_by_a_raw_ed25519_key_matches_cryptography(tmp_path):
    # The note signature is plain RFC 8032 Ed25519 over the note text, as the spec says.
    private = Ed25519PrivateKey.generate()
    from apps.audit.signing import signer_from_private_key

    signer = signer_from_private_key(ORIGIN, private)
    text = format_checkpoint(ORIGIN, 1, bytes(32))
    note = sign_note(text, signer)
    raw = base64.b64decode(note.rsplit(" ", 1)[1])
    private.public_key().verify(raw[4:], text.encode())
    assert raw[:4] == signer.key_id
