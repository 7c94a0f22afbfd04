"""Checkpoints pushed to a C2SP tlog-witness: a real HTTP witness runs in a thread of the test.

Docket stores a witness's cosignatures only if they verify against DOCKET_AUDIT_WITNESS_KEYS;
`manage.py audit verify` re-verifies the stored ones; evidence packs carry them and `docket-verify
--witness-key` checks them offline.
"""

import base64
import hashlib
import io
import json
import shutil
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from unittest import mock

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.audit import services, signing
from apps.audit.evidence import export_pack
from apps.audit.models import AuditEntry, Checkpoint, Cosignature
from apps.audit.verifier import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    VerificationError,
    main,
    open_note,
    parse_checkpoint,
    parse_vkey,
    verify_consistency,
    verify_pack,
)
from tests.audit.logdata import append_entries
from tests.audit.test_evidence_tamper import _refresh_manifest
from tests.audit.test_tamper_database import tamper
from tests.audit.test_tamper_database import verify as audit_verify_command

pytestmark = pytest.mark.django_db

COSIGNATURE_TYPE = b"\x04"


def cosigner_key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + COSIGNATURE_TYPE + public_key).digest()[:4]


class Witness:
    """The add-checkpoint side of c2sp.org/tlog-witness with Ed25519 cosignature/v1 signatures."""

    name = "witness.test/w1"

    def __init__(self, log_vkey: str):
        self.log_key = parse_vkey(log_vkey)
        self.private_key = Ed25519PrivateKey.generate()
        self.public_key = self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.latest: dict[str, tuple[int, bytes]] = {}
        self.requests: list[str] = []
        self.lock = threading.Lock()
        self.rewrite = None  # a test may change the answer of a successful add-checkpoint (bytes -> bytes)

    @property
    def vkey(self) -> str:
        """The witness's C2SP verifier key: <name>+<hex key id>+<base64(0x04 || public key)>."""
        encoded = base64.b64encode(COSIGNATURE_TYPE + self.public_key).decode()
        return f"{self.name}+{cosigner_key_id(self.name, self.public_key).hex()}+{encoded}"

    def cosign(self, text: str, timestamp: int | None = None) -> str:
        timestamp = int(time.time()) if timestamp is None else timestamp
        signature = self.private_key.sign(f"cosignature/v1\ntime {timestamp}\n{text}".encode())
        raw = cosigner_key_id(self.name, self.public_key) + timestamp.to_bytes(8, "big") + signature
        return f"\u2014 {self.name} {base64.b64encode(raw).decode()}"

    def add_checkpoint(self, body: str) -> tuple[int, str, str]:
        self.requests.append(body)
        head, _, note = body.partition("\n\n")
        lines = head.split("\n")
        if not lines[0].startswith("old ") or not lines[0][4:].isdigit():
            return 400, "text/plain", "bad old size line\n"
        old_size, proof = int(lines[0][4:]), [base64.b64decode(line) for line in lines[1:]]
        try:
            text, _ = open_note(note, [self.log_key])
        except VerificationError:
            return 403, "text/plain", "no trusted signature\n"
        checkpoint = parse_checkpoint(text)
        with self.lock:  # checking the old size and storing the new checkpoint are one atomic step
            if checkpoint.origin != self.log_key.name:
                return 404, "text/plain", "unknown log\n"
            if old_size > checkpoint.tree_size:
                return 400, "text/plain", "old size above checkpoint size\n"
            known_size, known_root = self.latest.get(checkpoint.origin, (0, b""))
            if old_size != known_size:
                return 409, "text/x.tlog.size", f"{known_size}\n"
            if old_size == checkpoint.tree_size and known_root != checkpoint.root_hash:
                return 409, "text/plain", "same size, different root\n"
            if old_size == 0:
                if proof:
                    return 422, "text/plain", "proof from size 0 must be empty\n"
            elif old_size < checkpoint.tree_size:
                try:
                    verify_consistency(old_size=old_size, new_size=checkpoint.tree_size, old_root=known_root,
                                       new_root=checkpoint.root_hash, proof=proof)
                except VerificationError:
                    return 422, "text/plain", "inconsistent\n"
            self.latest[checkpoint.origin] = (checkpoint.tree_size, checkpoint.root_hash)
        return 200, "text/plain", self.cosign(text) + "\n"


def cosignature_verifies(line: str, checkpoint_text: str, witness: Witness) -> bool:
    name, encoded = line[2:].split(" ")
    raw = base64.b64decode(encoded)
    if name != witness.name or raw[:4] != cosigner_key_id(witness.name, witness.public_key):
        return False
    timestamp = int.from_bytes(raw[4:12], "big")
    try:
        Ed25519PublicKey.from_public_bytes(witness.public_key).verify(
            raw[12:], f"cosignature/v1\ntime {timestamp}\n{checkpoint_text}".encode()
        )
    except InvalidSignature:
        return False
    return True


@pytest.fixture
def witness(signing_key_file, settings):
    """A witness over HTTP whose key Docket trusts (DOCKET_AUDIT_WITNESS_KEYS)."""
    witness = Witness(signing.load_signer().vkey)
    settings.DOCKET_AUDIT_WITNESS_KEYS = [witness.vkey]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            if self.path != "/add-checkpoint":
                self.send_error(404)
                return
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            status, content_type, text = witness.add_checkpoint(body)
            payload = text.encode()
            if status == 200 and witness.rewrite is not None:
                payload = witness.rewrite(payload)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    witness.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield witness
    server.shutdown()


def test_a_witness_cosigns_successive_checkpoints_after_checking_consistency(witness):
    append_entries(5)
    first = services.checkpoint_sign()
    [cosignature] = services.checkpoint_witness(tree_size=first.tree_size, witness_url=witness.url)
    assert witness.requests[0].startswith("old 0\n\n")
    append_entries(9, start_label=5)
    second = services.checkpoint_sign()
    services.checkpoint_witness(tree_size=second.tree_size, witness_url=witness.url)
    assert witness.requests[1].startswith("old 5\n") and len(witness.requests[1].split("\n\n")[0].split("\n")) > 1

    for checkpoint in (first, second):
        [stored] = Cosignature.objects.filter(checkpoint=checkpoint)
        text = checkpoint.note.split("\n\n")[0] + "\n"
        assert stored.key_name == witness.name and cosignature_verifies(stored.signature_line, text, witness)
    assert cosignature.witness_url == witness.url
    note = services.checkpoint_note_with_cosignatures(second)
    assert note.startswith(second.note) and note.count("\u2014 ") == 2
    open_note(note, [parse_vkey(signing.load_signer().vkey)])  # the log's own signature still verifies


def test_a_witness_that_does_not_trust_the_key_refuses_and_nothing_is_stored(witness, settings):
    witness.log_key = parse_vkey(signing.generate_signer(settings.DOCKET_AUDIT_ORIGIN).vkey)
    append_entries(2)
    checkpoint = services.checkpoint_sign()
    with pytest.raises(services.WitnessError, match="HTTP 403"):
        services.checkpoint_witness(tree_size=checkpoint.tree_size, witness_url=witness.url)
    assert Cosignature.objects.count() == 0


def test_a_stale_old_size_is_corrected_from_the_witness_409_answer(witness, settings):
    append_entries(3)
    first = services.checkpoint_sign()
    # The witness saw the checkpoint of 3 entries by another route; the log has no cosignature from it.
    witness.latest[settings.DOCKET_AUDIT_ORIGIN] = (3, bytes(first.root_hash))
    append_entries(2, start_label=3)
    second = services.checkpoint_sign()
    [stored] = services.checkpoint_witness(tree_size=second.tree_size, witness_url=witness.url)
    assert witness.requests[-2].startswith("old 0\n") and witness.requests[-1].startswith("old 3\n")
    assert cosignature_verifies(stored.signature_line, second.note.split("\n\n")[0] + "\n", witness)


def test_signing_a_checkpoint_queues_one_witness_task_per_configured_witness_on_commit(
    settings, signing_key_file, django_capture_on_commit_callbacks
):
    settings.DOCKET_AUDIT_WITNESS_URLS = ["http://w1.test", "http://w2.test"]
    append_entries(2)
    with mock.patch("apps.audit.services._queue_witness_task") as queue, django_capture_on_commit_callbacks(execute=True):
        services.checkpoint_sign()
    assert sorted(call.args for call in queue.call_args_list) == [(2, "http://w1.test"), (2, "http://w2.test")]


# -- Docket stores only cosignatures that verify ------------------------------------------------------


def checkpoint_text(checkpoint: Checkpoint) -> str:
    return checkpoint.note.split("\n\n")[0] + "\n"


def flip_signature_byte(line: str) -> str:
    name, encoded = line.removesuffix("\n")[2:].split(" ")
    raw = bytearray(base64.b64decode(encoded))
    raw[-1] ^= 0x01
    return f"\u2014 {name} {base64.b64encode(bytes(raw)).decode()}"


def change_timestamp(line: str) -> str:
    name, encoded = line.removesuffix("\n")[2:].split(" ")
    raw = bytearray(base64.b64decode(encoded))
    raw[4:12] = (int.from_bytes(raw[4:12], "big") + 1).to_bytes(8, "big")
    return f"\u2014 {name} {base64.b64encode(bytes(raw)).decode()}"


def truncate_signature(line: str, length: int) -> str:
    name, encoded = line.removesuffix("\n")[2:].split(" ")
    return f"\u2014 {name} {base64.b64encode(base64.b64decode(encoded)[:length]).decode()}"


def other_witness(signing_key_file, name: str) -> Witness:
    other = Witness(signing.load_signer().vkey)
    other.name = name
    return other


@pytest.mark.parametrize(
    ("rewrite", "reason"),
    [
        (lambda w, text, line: flip_signature_byte(line), "does not verify"),
        (lambda w, text, line: change_timestamp(line), "does not verify"),
        (lambda w, text, line: w.cosign(text.replace("\n5\n", "\n6\n")), "does not verify"),
        (lambda w, text, line: line + "\n" + flip_signature_byte(w.cosign(text)), "does not verify"),
        (lambda w, text, line: line[:-7], "not valid base64"),
        (lambda w, text, line: truncate_signature(line, 40), "is 40 bytes"),
        (lambda w, text, line: "not a signature line", "something other than note signature lines"),
    ],
    ids=[
        "flipped-signature-byte", "changed-timestamp", "over-another-checkpoint", "good-line-then-forged-line",
        "truncated-base64", "truncated-signature", "not-a-signature-line",
    ],
)
def test_a_witness_answering_a_forged_cosignature_is_refused_and_nothing_is_stored(witness, rewrite, reason):
    """Tried (see ids): the witness's own line with a flipped signature byte or a changed timestamp, a
    valid signature over another checkpoint, a good line followed by a forged one (nothing of the answer
    is stored), truncated base64, a signature cut to 40 bytes, and text that is no signature line."""
    append_entries(5)
    checkpoint = services.checkpoint_sign()
    entries_before = AuditEntry.objects.count()
    text = checkpoint_text(checkpoint)
    witness.rewrite = lambda payload: (rewrite(witness, text, payload.decode().strip()) + "\n").encode()
    with pytest.raises(services.WitnessError, match=reason) as caught:
        services.checkpoint_witness(tree_size=checkpoint.tree_size, witness_url=witness.url)
    assert witness.url in str(caught.value)
    assert Cosignature.objects.count() == 0
    assert AuditEntry.objects.count() == entries_before  # witnessing never writes log entries


def test_a_witness_answer_that_is_not_utf8_is_refused(witness):
    append_entries(2)
    checkpoint = services.checkpoint_sign()
    witness.rewrite = lambda payload: b"\xe2\x80\x94 \xff\xfe\n"
    with pytest.raises(services.WitnessError, match="not UTF-8"):
        services.checkpoint_witness(tree_size=checkpoint.tree_size, witness_url=witness.url)
    assert Cosignature.objects.count() == 0


def test_lines_from_untrusted_witness_keys_are_ignored_and_the_trusted_cosignature_is_stored(witness, signing_key_file):
    append_entries(3)
    checkpoint = services.checkpoint_sign()
    stranger = other_witness(signing_key_file, "witness.test/stranger")
    impostor = other_witness(signing_key_file, witness.name)  # the trusted name, another key (key ID)
    witness.rewrite = lambda payload: (
        f"{stranger.cosign(checkpoint_text(checkpoint))}\n{impostor.cosign(checkpoint_text(checkpoint))}\n"
    ).encode() + payload
    [stored] = services.checkpoint_witness(tree_size=checkpoint.tree_size, witness_url=witness.url)
    assert stored.key_name == witness.name
    assert cosignature_verifies(stored.signature_line, checkpoint_text(checkpoint), witness)
    assert Cosignature.objects.count() == 1


def test_an_answer_with_no_cosignature_from_a_trusted_key_is_refused(witness, signing_key_file):
    """Tried: only a line by a witness Docket does not know, and only a line under the trusted witness's
    name from another key (its key ID does not match)."""
    append_entries(3)
    checkpoint = services.checkpoint_sign()
    for name in ("witness.test/stranger", witness.name):
        line = other_witness(signing_key_file, name).cosign(checkpoint_text(checkpoint))
        witness.rewrite = lambda payload, line=line: (line + "\n").encode()
        with pytest.raises(services.WitnessError, match="no cosignature from a witness key in DOCKET_AUDIT_WITNESS_KEYS"):
            services.checkpoint_witness(tree_size=checkpoint.tree_size, witness_url=witness.url)
    assert Cosignature.objects.count() == 0


def test_without_a_usable_witness_key_the_witness_is_not_contacted(witness, settings):
    """Tried: no witness key configured, and a configured key that does not parse. Both are configuration
    errors (ImproperlyConfigured), which checkpoint_witness_task does not retry."""
    append_entries(2)
    checkpoint = services.checkpoint_sign()
    settings.DOCKET_AUDIT_WITNESS_KEYS = []
    with pytest.raises(ImproperlyConfigured, match="DOCKET_AUDIT_WITNESS_KEYS names no witness key"):
        services.checkpoint_witness(tree_size=checkpoint.tree_size, witness_url=witness.url)
    settings.DOCKET_AUDIT_WITNESS_KEYS = [signing.load_signer().vkey]  # the log's own key: type 0x01
    with pytest.raises(ImproperlyConfigured, match=r"DOCKET_AUDIT_WITNESS_KEYS, key 1 .*\(type 0x04\)"):
        services.checkpoint_witness(tree_size=checkpoint.tree_size, witness_url=witness.url)
    assert witness.requests == [] and Cosignature.objects.count() == 0


def test_witnessing_a_checkpoint_twice_stores_the_witness_cosignature_once(witness):
    append_entries(4)
    checkpoint = services.checkpoint_sign()
    [first] = services.checkpoint_witness(tree_size=checkpoint.tree_size, witness_url=witness.url)
    assert services.checkpoint_witness(tree_size=checkpoint.tree_size, witness_url=witness.url) == []
    assert len(witness.requests) == 2 and list(Cosignature.objects.all()) == [first]


# -- manage.py audit verify re-verifies stored cosignatures ---------------------------------------------


@pytest.fixture
def witnessed_log(witness):
    """Checkpoints of 5 and 9 entries, each cosigned by the witness."""
    append_entries(5)
    services.checkpoint_witness(tree_size=services.checkpoint_sign().tree_size, witness_url=witness.url)
    append_entries(4, start_label=5)
    services.checkpoint_witness(tree_size=services.checkpoint_sign().tree_size, witness_url=witness.url)
    return witness


def test_audit_verify_re_verifies_every_stored_cosignature(witnessed_log):
    status, output = audit_verify_command()
    assert status == 0, output
    assert output.startswith("OK: 9 entries") and output.rstrip().endswith("; 2 witness cosignatures verified")


@pytest.mark.parametrize("forgery", ["flipped-signature-byte", "cosignature-of-another-checkpoint"])
def test_audit_verify_catches_a_cosignature_stored_without_verification(witnessed_log, forgery):
    """A row written straight to the table (Cosignature rows may be inserted, not changed), bypassing
    checkpoint_witness. Tried: the witness's line with a flipped signature byte on checkpoint 5, and
    checkpoint 5's genuine line filed under checkpoint 9."""
    genuine = Cosignature.objects.get(checkpoint_id=5)
    if forgery == "flipped-signature-byte":
        target, line = 5, flip_signature_byte(genuine.signature_line)
    else:
        target, line = 9, genuine.signature_line
    Cosignature(checkpoint_id=target, witness_url=genuine.witness_url, key_name=genuine.key_name,
                signature_line=line, created_at=genuine.created_at).save()
    status, output = audit_verify_command()
    assert status == 1
    assert f"FAILED: checkpoint of {target} entries: the cosignature stored from {witnessed_log.url}" in output
    assert "does not verify" in output


def test_audit_verify_catches_a_stored_cosignature_changed_in_the_database(witnessed_log):
    """The table owner disables the append-only trigger and rewrites checkpoint 9's cosignature's timestamp."""
    stored = Cosignature.objects.get(checkpoint_id=9)
    tamper("UPDATE audit_cosignature SET signature_line = %s WHERE id = %s",
           params=[change_timestamp(stored.signature_line), stored.pk])
    status, output = audit_verify_command()
    assert status == 1 and "FAILED: checkpoint of 9 entries:" in output and "does not verify" in output


def test_audit_verify_counts_cosignatures_whose_witness_key_is_no_longer_configured(witnessed_log, settings):
    settings.DOCKET_AUDIT_WITNESS_KEYS = []
    status, output = audit_verify_command()
    assert status == 0, output
    assert "0 witness cosignatures verified, 2 not checked (their witness has no key in DOCKET_AUDIT_WITNESS_KEYS)" in output


def test_audit_verify_with_an_unparseable_witness_key_is_a_usage_error(witnessed_log, settings):
    settings.DOCKET_AUDIT_WITNESS_KEYS = ["witness.test/w1+00000000+AAAA"]
    with pytest.raises(CommandError, match="DOCKET_AUDIT_WITNESS_KEYS, key 1") as caught:
        call_command("audit", "verify", stdout=io.StringIO(), stderr=io.StringIO())
    assert caught.value.returncode == 2


# -- evidence packs carry cosignatures; docket-verify --witness-key checks them -------------------------


@pytest.fixture
def witnessed_pack(witnessed_log, tmp_path):
    """A full pack of the witnessed log (checkpoints 5 and 9, both cosigned)."""
    export_pack(destination=tmp_path / "pack")
    return tmp_path / "pack"


def docket_verify(capsys, *args) -> tuple[int, str, str]:
    status = main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_an_evidence_pack_carries_the_cosignatures_and_the_witness_keys(witnessed_pack, witness):
    for size in (5, 9):
        note = (witnessed_pack / f"checkpoints/{size}.checkpoint").read_text()
        checkpoint = Checkpoint.objects.get(tree_size=size)
        assert note == services.checkpoint_note_with_cosignatures(checkpoint) != checkpoint.note
    listed = json.loads((witnessed_pack / "keys/witness-keys.json").read_text())
    assert listed == {"witness_keys": [{"vkey": witness.vkey, "name": witness.name,
                                        "key_id": cosigner_key_id(witness.name, witness.public_key).hex()}]}
    readme = (witnessed_pack / "README.md").read_text()
    assert "--witness-key" in readme and "keys/witness-keys.json" in readme
    # The pack format is unchanged for a verifier that pins only the log's key: cosignatures are ignored.
    report = verify_pack(witnessed_pack, keys=[parse_vkey(signing.load_signer().vkey)])
    assert report.entry_count == 9 and report.min_witnesses is None


def test_docket_verify_with_a_witness_key_names_the_witnesses_that_cosigned(witnessed_pack, witness, capsys, tmp_path):
    log_key = signing.load_signer().vkey
    status, out, err = docket_verify(capsys, witnessed_pack, "--key", log_key, "--witness-key", witness.vkey)
    assert status == EXIT_OK, out + err
    assert f"  witnessed   checkpoint 9 cosigned by {witness.name} (" in out
    assert "1 witness(es) verified, at least 1 required" in out
    assert "only the keys given with --key and --witness-key were trusted" in out
    key_file = tmp_path / "witnesses.txt"
    key_file.write_text(f"# witnesses we rely on\n{witness.vkey}\n")
    assert docket_verify(capsys, witnessed_pack, "--key", log_key, "--witness-key", key_file)[0] == EXIT_OK
    # Without --witness-key nothing about witnesses is checked or reported, as before.
    status, out, _ = docket_verify(capsys, witnessed_pack, "--key", log_key)
    assert status == EXIT_OK and "witness" not in out
    # A range pack: entries are proven by tlog-proofs, the checkpoint files carry the cosignatures.
    export_pack(destination=tmp_path / "range.tar.gz", start=2, end=7)
    status, out, _ = docket_verify(capsys, tmp_path / "range.tar.gz", "--key", log_key, "--witness-key", witness.vkey)
    assert status == EXIT_OK and f"checkpoint 9 cosigned by {witness.name}" in out


def test_docket_verify_fails_when_the_newest_checkpoint_has_too_few_witnesses(witnessed_pack, witness, capsys,
                                                                              signing_key_file, tmp_path):
    """Tried: two trusted witnesses with --min-witnesses 2 when only one cosigned, and a pack whose
    newest checkpoint no witness has cosigned yet."""
    log_key = signing.load_signer().vkey
    second = other_witness(signing_key_file, "witness.test/w2")
    status, out, _ = docket_verify(capsys, witnessed_pack, "--key", log_key, "--witness-key", witness.vkey,
                                   "--witness-key", second.vkey, "--min-witnesses", "2")
    assert status == EXIT_FAILED
    assert out.strip() == (
        "docket-verify: FAILED at pack: checkpoint checkpoints/9.checkpoint (tree size 9) carries valid "
        f"cosignatures from 1 trusted witness(es) ({witness.name}); at least 2 are required"
    )
    append_entries(2, start_label=9)
    export_pack(destination=tmp_path / "unwitnessed")  # signs checkpoint 11, which no witness has seen
    status, out, _ = docket_verify(capsys, tmp_path / "unwitnessed", "--key", log_key, "--witness-key", witness.vkey)
    assert status == EXIT_FAILED
    assert ("checkpoint checkpoints/11.checkpoint (tree size 11) carries valid cosignatures from 0 trusted "
            "witness(es) (none)") in out
    assert docket_verify(capsys, tmp_path / "unwitnessed", "--key", log_key, "--witness-key", witness.vkey,
                         "--min-witnesses", "0")[0] == EXIT_OK


@pytest.mark.parametrize("size", [5, 9])
def test_docket_verify_fails_on_a_tampered_cosignature_in_the_pack(witnessed_pack, witness, capsys, tmp_path, size):
    """The cosignature line in checkpoints/<size>.checkpoint gets a flipped signature byte (and the
    manifest is rewritten to match). Tampering with the older checkpoint's cosignature is caught too,
    although only the newest checkpoint counts towards --min-witnesses."""
    pack = tmp_path / f"tampered-{size}"
    shutil.copytree(witnessed_pack, pack)
    path = pack / f"checkpoints/{size}.checkpoint"
    log_line, cosignature_line = path.read_text().split("\n\n")[1].splitlines()
    path.write_text(path.read_text().replace(cosignature_line, flip_signature_byte(cosignature_line)))
    _refresh_manifest(pack)
    log_key = signing.load_signer().vkey
    status, out, _ = docket_verify(capsys, pack, "--key", log_key, "--witness-key", witness.vkey)
    assert status == EXIT_FAILED
    assert out.startswith(
        f"docket-verify: FAILED at pack: checkpoint checkpoints/{size}.checkpoint: the cosignature of {witness.name}"
    )
    assert "does not verify" in out
    # Without --witness-key the cosignature is someone else's signature line, ignored as before.
    assert docket_verify(capsys, pack, "--key", log_key)[0] == EXIT_OK


def test_docket_verify_ignores_cosignatures_from_witnesses_it_was_not_told_to_trust(witnessed_pack, witness, capsys,
                                                                                    signing_key_file, tmp_path):
    pack = tmp_path / "extra"
    shutil.copytree(witnessed_pack, pack)
    path = pack / "checkpoints/9.checkpoint"
    stranger = other_witness(signing_key_file, "witness.test/stranger")
    forged = flip_signature_byte(stranger.cosign(checkpoint_text(Checkpoint.objects.get(tree_size=9))))
    path.write_text(path.read_text() + forged + "\n")
    _refresh_manifest(pack)
    status, out, _ = docket_verify(capsys, pack, "--key", signing.load_signer().vkey, "--witness-key", witness.vkey)
    assert status == EXIT_OK, out
    assert f"cosigned by {witness.name} (" in out and "stranger" not in out


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--witness-key", "{witness}", "--min-witnesses", "-1"], "must be a whole number, 0 or more; got '-1'"),
        (["--witness-key", "{witness}", "--min-witnesses", "one"], "must be a whole number, 0 or more; got 'one'"),
        (["--witness-key", "{witness}", "--min-witnesses", "2"], "2 can never be met: 1 distinct witness(es)"),
        (["--min-witnesses", "1"], "--min-witnesses 1 can never be met: 0 distinct witness(es)"),
        (["--witness-key", "witness.test/w1+00000000+AAAA"], "bad witness key 'witness.test/w1+00000000+AAAA'"),
        (["--witness-key", "{log}"], "is an Ed25519 note-signing key (type 0x01); a cosignature/v1 witness key"),
        (["--witness-key", "{empty_file}"], "no witness key in"),
    ],
    ids=["negative", "not-a-number", "more-than-given", "without-witness-keys", "garbage-key", "log-key-as-witness",
         "empty-key-file"],
)
def test_docket_verify_refuses_bad_witness_options_with_exit_status_2(witnessed_pack, witness, capsys, tmp_path,
                                                                      options, message):
    """Tried (see ids): a negative and a non-numeric --min-witnesses, a minimum above the witnesses given
    or without any witness key, an unparseable witness key, the log's own key as a witness key, and a
    key file without keys."""
    empty = tmp_path / "empty.txt"
    empty.write_text("# no keys yet\n")
    log_key = signing.load_signer().vkey
    values = {"witness": witness.vkey, "log": log_key, "empty_file": str(empty)}
    status, out, err = docket_verify(capsys, witnessed_pack, "--key", log_key,
                                     *[option.format(**values) for option in options])
    assert status == EXIT_USAGE and out == ""
    assert err.startswith("docket-verify: error: ") and message in err


def test_a_witness_key_given_as_the_log_key_is_a_usage_error(witnessed_pack, witness, capsys):
    status, _, err = docket_verify(capsys, witnessed_pack, "--key", witness.vkey)
    assert status == EXIT_USAGE and "is a cosignature/v1 witness key (type 0x04)" in err


def test_the_standalone_verifier_checks_witness_cosignatures_with_only_the_standard_library(witnessed_pack, witness,
                                                                                            tmp_path):
    copy = tmp_path / "docket_verify.py"
    copy.write_text((Path(__file__).parents[2] / "apps/audit/verifier.py").read_text())
    code = ("import sys; sys.modules['django'] = None; sys.argv = sys.argv[1:]; import runpy; "
            "runpy.run_path(sys.argv[0], run_name='__main__')")
    result = subprocess.run(
        [sys.executable, "-I", "-c", code, str(copy), str(witnessed_pack), "--key", signing.load_signer().vkey,
         "--witness-key", witness.vkey],
        check=False, capture_output=True, text=True, cwd=tmp_path,
    )
    assert result.returncode == EXIT_OK, result.stdout + result.stderr
    assert f"cosigned by {witness.name}" in result.stdout
