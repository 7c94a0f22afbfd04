"""Checkpoints pushed to a C2SP tlog-witness: a real HTTP witness runs in a thread of the test."""

import base64
import hashlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest import mock

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from apps.audit import services, signing
from apps.audit.models import Cosignature
from apps.audit.verifier import VerificationError, open_note, parse_checkpoint, parse_vkey, verify_consistency
from tests.audit.logdata import append_entries

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
        timestamp = int(time.time())
        signature = self.private_key.sign(f"cosignature/v1\ntime {timestamp}\n{text}".encode())
        raw = cosigner_key_id(self.name, self.public_key) + timestamp.to_bytes(8, "big") + signature
        return 200, "text/plain", f"\u2014 {self.name} {base64.b64encode(raw).decode()}\n"


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
def witness(signing_key_file):
    witness = Witness(signing.load_signer().vkey)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            if self.path != "/add-checkpoint":
                self.send_error(404)
                return
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            status, content_type, text = witness.add_checkpoint(body)
            payload = text.encode()
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
