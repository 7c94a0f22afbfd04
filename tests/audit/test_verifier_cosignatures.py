"""Witness cosignatures in the offline verifier (c2sp.org/tlog-cosignature, Ed25519 cosignature/v1).

The cosignatures here are made with `cryptography` directly from the spec's definition, not with
Docket's code: key ID = SHA-256(name || 0x0A || 0x04 || public key)[:4]; signature line
`— <name> base64(key ID || 8-byte big-endian timestamp || Ed25519 signature)`; signed message
`cosignature/v1\\ntime <timestamp>\\n` + the checkpoint text. No database.
"""

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from apps.audit.signing import generate_signer, sign_note
from apps.audit.verifier import (
    COSIGNATURE_V1_TYPE,
    UnknownCosignerError,
    VerificationError,
    format_checkpoint,
    format_cosignature_time,
    format_vkey,
    key_id,
    open_note,
    parse_vkey,
    parse_witness_vkey,
    verify_cosignature,
    verify_note_cosignatures,
)

ORIGIN = "docket.test/audit"
WITNESS = "witness.test/w1"
TIME = 1_767_225_600  # 2026-01-01 00:00:00 UTC
TEXT = format_checkpoint(ORIGIN, 20852163, bytes(range(32)))
OTHER_TEXT = format_checkpoint(ORIGIN, 20852164, bytes(range(32)))


class SpecWitness:
    """An Ed25519 cosigner written from the spec, independent of apps/audit."""

    def __init__(self, name: str = WITNESS):
        self.name = name
        self.private_key = Ed25519PrivateKey.generate()
        self.public_key = self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = hashlib.sha256(name.encode() + b"\n\x04" + self.public_key).digest()[:4]
        encoded = base64.b64encode(b"\x04" + self.public_key).decode()
        self.vkey = f"{name}+{self.key_id.hex()}+{encoded}"

    def raw(self, text: str, timestamp: int = TIME) -> bytes:
        signature = self.private_key.sign(f"cosignature/v1\ntime {timestamp}\n{text}".encode())
        return self.key_id + timestamp.to_bytes(8, "big") + signature

    def line(self, text: str, timestamp: int = TIME) -> str:
        return f"\u2014 {self.name} {base64.b64encode(self.raw(text, timestamp)).decode()}"


def _line(name: str, raw: bytes) -> str:
    return f"\u2014 {name} {base64.b64encode(raw).decode()}"


@pytest.fixture
def witness():
    return SpecWitness()


def test_a_witness_vkey_has_type_0x04_and_its_own_key_id(witness):
    key = parse_witness_vkey(witness.vkey)
    assert (key.name, key.key_id, key.public_key, key.signature_type) == (
        WITNESS, witness.key_id, witness.public_key, COSIGNATURE_V1_TYPE
    )
    assert key.key_id == key_id(WITNESS, witness.public_key, COSIGNATURE_V1_TYPE) != key_id(WITNESS, witness.public_key)
    assert key.vkey() == witness.vkey == format_vkey(WITNESS, witness.public_key, COSIGNATURE_V1_TYPE)


def test_log_keys_and_witness_keys_are_not_interchangeable(witness):
    """A witness key given where a log key is expected, and the other way round, is refused by type."""
    log_vkey = generate_signer(ORIGIN).vkey
    with pytest.raises(VerificationError, match=r"is a cosignature/v1 witness key \(type 0x04\)"):
        parse_vkey(witness.vkey)
    with pytest.raises(VerificationError, match=r"is an Ed25519 note-signing key \(type 0x01\)"):
        parse_witness_vkey(log_vkey)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (lambda w: w.vkey.replace(w.key_id.hex(), "00000000"), "key ID does not match"),  # wrong key ID
        (lambda w: f"{w.name}+{w.key_id.hex()}+" + base64.b64encode(b"\x04" + bytes(31)).decode(), "32-byte"),
        (lambda w: f"{w.name}+{w.key_id.hex()}+" + base64.b64encode(b"\x06" + w.public_key).decode(), "type 0x04"),
        (lambda w: f"{w.name}+{w.key_id.hex()}+!!!!", "not valid base64"),
        (lambda w: f"{w.name}+{w.key_id.hex()}", "has the form"),  # no key at all
        (lambda w: "with space+00000000+AAAA", "invalid key name"),
    ],
)
def test_parse_witness_vkey_refuses_malformed_keys_with_the_reason(witness, bad, reason):
    """Tried: a wrong key ID, a 31-byte key, another signature type (0x06), bad base64, a missing key
    part, and a name with a space."""
    with pytest.raises(VerificationError, match=reason):
        parse_witness_vkey(bad(witness))


def test_a_good_cosignature_verifies_and_names_the_witness_and_its_time(witness):
    cosignature = verify_cosignature(witness.line(TEXT), TEXT, [parse_witness_vkey(witness.vkey)])
    assert cosignature.witness.name == WITNESS and cosignature.timestamp == TIME
    assert verify_cosignature(witness.line(TEXT) + "\n", TEXT, [parse_witness_vkey(witness.vkey)]) == cosignature
    assert format_cosignature_time(TIME) == "2026-01-01 00:00:00 UTC"
    assert format_cosignature_time(2**63 - 1) == f"time {2**63 - 1}"  # not a date, and no crash


def _flip_signature_byte(witness):
    raw = bytearray(witness.raw(TEXT))
    raw[40] ^= 0x01
    return _line(WITNESS, bytes(raw))


def _change_timestamp(witness):
    raw = bytearray(witness.raw(TEXT))
    raw[4:12] = (TIME + 1).to_bytes(8, "big")  # the witness signed TIME, the line now claims TIME + 1
    return _line(WITNESS, bytes(raw))


def _change_key_id(witness):
    raw = bytearray(witness.raw(TEXT))
    raw[0] ^= 0xFF
    return _line(WITNESS, bytes(raw))


@pytest.mark.parametrize(
    ("make_line", "error", "reason"),
    [
        (lambda w: SpecWitness("witness.test/other").line(TEXT), UnknownCosignerError, "no trusted witness key has"),
        (lambda w: SpecWitness(WITNESS).line(TEXT), UnknownCosignerError, "key ID .* is not the ID of the trusted key"),
        (_change_key_id, UnknownCosignerError, "key ID .* is not the ID of the trusted key"),
        (lambda w: w.line(TEXT)[:-6], VerificationError, "not valid base64"),  # truncated base64
        (lambda w: f"\u2014 {WITNESS} %%%garbage%%%", VerificationError, "not valid base64"),
        (lambda w: _line(WITNESS, w.raw(TEXT)[:40]), VerificationError, "is 40 bytes; a cosignature/v1 signature is 76"),
        (lambda w: _line(WITNESS, w.raw(TEXT) + b"\x00"), VerificationError, "is 77 bytes"),
        (lambda w: _line(WITNESS, w.key_id), VerificationError, "signature is too short"),
        (_flip_signature_byte, VerificationError, "does not verify"),
        (lambda w: w.line(OTHER_TEXT), VerificationError, "does not verify"),  # over a different checkpoint
        (_change_timestamp, VerificationError, "does not verify"),
        (lambda w: w.line(TEXT, timestamp=2**63), VerificationError, r"timestamp above 2\^63 - 1"),
        (lambda w: "- " + w.line(TEXT)[2:], VerificationError, "does not start with an em dash"),
        (lambda w: w.line(TEXT) + " extra", VerificationError, "is not '— <name> <base64>'"),
        (lambda w: w.line(TEXT) + "\n" + w.line(TEXT), VerificationError, "control characters or several lines"),
    ],
    ids=[
        "unknown-name", "wrong-key-same-name", "key-id-mismatch", "truncated-base64", "garbage-base64",
        "truncated-signature", "trailing-byte", "only-a-key-id", "flipped-signature-byte", "other-checkpoint",
        "changed-timestamp", "timestamp-too-large", "hyphen-instead-of-em-dash", "extra-field", "two-lines",
    ],
)
def test_a_bad_cosignature_is_rejected_with_the_reason(witness, make_line, error, reason):
    """Tried (see ids): an unknown witness name, another key under the trusted name, a changed key ID,
    truncated and garbage base64, a signature cut short or with a byte too many, a flipped signature
    byte, a cosignature of another checkpoint, a changed timestamp, a timestamp above 2^63 - 1 (validly
    signed), and malformed lines."""
    with pytest.raises(error, match=reason) as caught:
        verify_cosignature(make_line(witness), TEXT, [parse_witness_vkey(witness.vkey)])
    if error is VerificationError:
        assert not isinstance(caught.value, UnknownCosignerError)


def test_a_changed_checkpoint_body_breaks_the_cosignature(witness):
    line = witness.line(TEXT)
    tampered = TEXT.replace("20852163", "20852162")
    with pytest.raises(VerificationError, match="does not verify"):
        verify_cosignature(line, tampered, [parse_witness_vkey(witness.vkey)])


def test_the_checkpoint_must_be_the_note_text_not_the_whole_note(witness):
    note = sign_note(TEXT, generate_signer(ORIGIN))
    with pytest.raises(VerificationError, match="before the blank line"):
        verify_cosignature(witness.line(TEXT), note, [parse_witness_vkey(witness.vkey)])


def test_log_keys_never_verify_cosignatures_and_witness_keys_never_verify_notes(witness):
    signer = generate_signer(ORIGIN)
    note = sign_note(TEXT, signer) + witness.line(TEXT) + "\n"
    witness_key = parse_witness_vkey(witness.vkey)
    assert open_note(note, [signer.verifier_key]) == (TEXT, [signer.verifier_key])  # cosignature ignored
    with pytest.raises(VerificationError, match="not signed by any trusted key"):
        open_note(note, [witness_key])
    with pytest.raises(UnknownCosignerError):
        verify_cosignature(witness.line(TEXT), TEXT, [signer.verifier_key])


def test_note_cosignatures_from_trusted_witnesses_are_verified_and_others_ignored(witness):
    other = SpecWitness("witness.test/w2")
    signer = generate_signer(ORIGIN)
    note = sign_note(TEXT, signer) + other.line(TEXT) + "\n" + witness.line(TEXT) + "\n"
    [cosignature] = verify_note_cosignatures(note, [parse_witness_vkey(witness.vkey)])
    assert cosignature.witness.name == WITNESS
    assert len(verify_note_cosignatures(note, [parse_witness_vkey(k.vkey) for k in (witness, other)])) == 2
    forged = sign_note(TEXT, signer) + _flip_signature_byte(witness) + "\n"
    with pytest.raises(VerificationError, match=f"the cosignature of {WITNESS} .* does not verify"):
        verify_note_cosignatures(forged, [parse_witness_vkey(witness.vkey)])
