"""Gate decision attestations: an in-toto Statement v1 in a DSSE envelope signed with Ed25519, and the
offline check of one (`verify_attestation`).

This module is deliberately self-contained: it imports only the Python standard library and
`cryptography`, so a pipeline or an auditor can copy this one file next to the offline audit verifier
and run `python attestation.py verify <envelope.json> --key <vkey>` without Docket or Django.

References:
- DSSE v1.0 (github.com/secure-systems-lab/dsse, protocol.md and envelope.md): the signature is
  Sign(PAE(UTF8(payloadType), payload)) with
  PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, LEN = ASCII decimal byte length.
  Envelope: {"payload": base64, "payloadType": str, "signatures": [{"keyid": str, "sig": base64}]}.
- in-toto Attestation Framework v1 (github.com/in-toto/attestation, spec/v1/statement.md): payload
  type "application/vnd.in-toto+json", Statement {"_type": "https://in-toto.io/Statement/v1",
  "subject": [{"name", "digest": {"sha256": hex}}], "predicateType": URI, "predicate": {...}}.
- Keys are C2SP verifier keys `<name>+<hex key id>+<base64(0x01 || 32-byte public key)>` (the format
  the audit log publishes); the DSSE `keyid` is that key's 8-hex-digit key ID. The key ID is only a
  hint (DSSE says so): it selects which of the offered keys are tried, never whether one is trusted.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://docket.dev/attestations/gate-decision/v1"
ED25519_KEY_TYPE = 0x01
MAX_ENVELOPE_BYTES = 1024 * 1024
# Docket's verifier is stricter than DSSE's "ignore unknown members": it accepts exactly what Docket
# writes, so that no byte of an attestation can change without it failing.
ENVELOPE_MEMBERS = frozenset({"payload", "payloadType", "signatures"})
SIGNATURE_MEMBERS = frozenset({"keyid", "sig"})


class AttestationError(Exception):
    """The attestation is malformed, its signature does not verify, or its statement is not Docket's."""


@dataclass(frozen=True)
class AttestationKey:
    """An Ed25519 public key with the C2SP name and 4-byte key ID it is published under."""

    name: str
    key_id: bytes
    public_key: bytes


def c2sp_key_id(name: str, public_key: bytes) -> bytes:
    """First 4 bytes of SHA-256(name || 0x0A || 0x01 || public key), as C2SP signed-note key IDs."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ED25519_KEY_TYPE]) + public_key).digest()[:4]


def format_vkey(name: str, public_key: bytes) -> str:
    encoded = base64.b64encode(bytes([ED25519_KEY_TYPE]) + public_key).decode("ascii")
    return f"{name}+{c2sp_key_id(name, public_key).hex()}+{encoded}"


def parse_vkey(text: str) -> AttestationKey:
    """Parses a C2SP Ed25519 verifier key; refuses one whose key ID does not match its name and key."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3 or not parts[0] or any(ch.isspace() for ch in parts[0]):
        raise AttestationError("a verifier key has the form <name>+<hex key id>+<base64 key>")
    name, hex_id, encoded = parts
    try:
        claimed = bytes.fromhex(hex_id)
        raw = base64.b64decode(encoded, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise AttestationError("the verifier key's ID or key is not valid hex/base64") from exc
    if len(claimed) != 4 or len(raw) != 33 or raw[0] != ED25519_KEY_TYPE:
        raise AttestationError("only Ed25519 verifier keys (type 0x01, 32-byte key, 4-byte ID) are supported")
    if c2sp_key_id(name, raw[1:]) != claimed:
        raise AttestationError(f"verifier key {name}: the key ID does not match the name and key")
    return AttestationKey(name=name, key_id=claimed, public_key=raw[1:])


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE v1 Pre-Authentication Encoding of (payload type, serialized body)."""
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(type_bytes), type_bytes, len(body), body)


def canonical_json(value) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the serialized body Docket signs (any JSON would verify)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def statement(*, subject_name: str, artifact_sha256: str, predicate: dict) -> dict:
    """An in-toto Statement v1 about one artifact (by its SHA-256) with Docket's gate predicate."""
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": subject_name, "digest": {"sha256": artifact_sha256}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate,
    }


def sign_envelope(statement_: dict, *, private_key: Ed25519PrivateKey, key_id: bytes) -> dict:
    """The DSSE envelope of `statement_`, signed over PAE(payload type, canonical JSON of it)."""
    body = canonical_json(statement_)
    signature = private_key.sign(pae(PAYLOAD_TYPE, body))
    return {
        "payload": base64.b64encode(body).decode("ascii"),
        "payloadType": PAYLOAD_TYPE,
        "signatures": [{"keyid": key_id.hex(), "sig": base64.b64encode(signature).decode("ascii")}],
    }


def _b64(text, what: str) -> bytes:
    if not isinstance(text, str):
        raise AttestationError(f"{what} must be a base64 string")
    padded = text + "=" * (-len(text) % 4)
    url_safe = "-" in text or "_" in text  # DSSE verifiers must accept standard and URL-safe base64
    try:
        raw = base64.b64decode(padded, altchars=b"-_" if url_safe else None, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AttestationError(f"{what} is not valid base64") from exc
    # Canonical encoding only: base64 text whose unused trailing bits are set decodes to the same bytes,
    # which would let the envelope's bytes change without the signature noticing.
    canonical = (base64.urlsafe_b64encode(raw) if url_safe else base64.b64encode(raw)).decode("ascii")
    if canonical.rstrip("=") != text.rstrip("="):
        raise AttestationError(f"{what} is not canonical base64")
    return raw


def _load(envelope) -> dict:
    if isinstance(envelope, (bytes, bytearray)):
        if len(envelope) > MAX_ENVELOPE_BYTES:
            raise AttestationError("the envelope is larger than 1 MiB")
        envelope = envelope.decode("utf-8", errors="strict")
    if isinstance(envelope, str):
        try:
            envelope = json.loads(envelope)
        except ValueError as exc:
            raise AttestationError(f"the envelope is not JSON: {exc}") from exc
    if not isinstance(envelope, dict):
        raise AttestationError("the envelope is not a JSON object")
    if set(envelope) != ENVELOPE_MEMBERS:
        raise AttestationError(f"a Docket attestation has exactly the members {sorted(ENVELOPE_MEMBERS)}, "
                               f"not {sorted(envelope)}")
    if not isinstance(envelope["signatures"], list) or not envelope["signatures"]:
        raise AttestationError("the envelope carries no signature")
    for signature in envelope["signatures"]:
        if not isinstance(signature, dict) or set(signature) != SIGNATURE_MEMBERS:
            raise AttestationError(f"each signature has exactly the members {sorted(SIGNATURE_MEMBERS)}")
    return envelope


def verify_attestation(envelope, keys: Iterable[AttestationKey | str], *,
                       artifact_sha256: str | None = None) -> dict:
    """Returns the verified in-toto Statement of a DSSE envelope (a dict, JSON text or bytes).

    At least one signature must verify, over PAE(payloadType, payload), with one of `keys` (objects
    or C2SP verifier-key strings). Then the payload type must be in-toto's, the statement must be an
    in-toto Statement v1 with Docket's gate predicate and one sha256 subject, and, when
    `artifact_sha256` is given, that subject must be this artifact. Raises AttestationError otherwise.
    """
    keys = [parse_vkey(key) if isinstance(key, str) else key for key in keys]
    if not keys:
        raise AttestationError("no verifier key given")
    envelope = _load(envelope)
    payload_type = envelope["payloadType"]
    if not isinstance(payload_type, str):
        raise AttestationError("payloadType must be a string")
    body = _b64(envelope["payload"], "payload")
    message = pae(payload_type, body)
    verified_by = None
    for signature in envelope["signatures"]:
        sig = _b64(signature["sig"], "signature")
        # The key ID is an unauthenticated hint; it only narrows which keys are tried (DSSE).
        for key in [key for key in keys if key.key_id.hex() == signature["keyid"]]:
            try:
                Ed25519PublicKey.from_public_bytes(key.public_key).verify(sig, message)
            except InvalidSignature:
                continue
            verified_by = key
            break
        if verified_by is not None:
            break
    if verified_by is None:
        raise AttestationError("no signature verifies with the given key(s): the attestation was changed or "
                               "was signed by another key")
    if payload_type != PAYLOAD_TYPE:
        raise AttestationError(f"payloadType is {payload_type!r}, not {PAYLOAD_TYPE!r}")
    try:
        parsed = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise AttestationError(f"the payload is not JSON: {exc}") from exc
    if not isinstance(parsed, dict) or parsed.get("_type") != STATEMENT_TYPE:
        raise AttestationError(f"the payload is not an in-toto Statement v1 ({STATEMENT_TYPE})")
    if parsed.get("predicateType") != PREDICATE_TYPE:
        raise AttestationError(f"predicateType is {parsed.get('predicateType')!r}, not {PREDICATE_TYPE!r}")
    subjects = parsed.get("subject")
    if not isinstance(subjects, list) or len(subjects) != 1 or not isinstance(subjects[0], dict) \
            or not isinstance(subjects[0].get("digest"), dict) or "sha256" not in subjects[0]["digest"]:
        raise AttestationError("the statement must have exactly one subject with a sha256 digest")
    if artifact_sha256 is not None and subjects[0]["digest"]["sha256"] != artifact_sha256.strip().lower():
        raise AttestationError(f"the attestation is about sha256:{subjects[0]['digest']['sha256']}, "
                               f"not sha256:{artifact_sha256}")
    if not isinstance(parsed.get("predicate"), dict):
        raise AttestationError("the statement has no predicate object")
    return parsed


def describe(statement_: dict) -> str:
    """One line per fact a pipeline or auditor looks at first."""
    predicate = statement_["predicate"]
    subject = statement_["subject"][0]
    lines = [
        f"decision     {predicate.get('decision')}",
        f"artifact     sha256:{subject['digest']['sha256']} ({subject.get('name', '')})",
        f"environment  {predicate.get('environment')}",
        f"decided at   {predicate.get('decided_at')}",
        f"audit index  {predicate.get('audit_index')}",
    ]
    for reason in predicate.get("reasons", []):
        lines.append(f"reason       {reason.get('code')}: {reason.get('detail')}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """`attestation.py verify FILE --key VKEY [--key VKEY ...] [--artifact-sha256 HEX]`: exit 0 when the
    attestation verifies (and prints what it says), 1 when it does not, 2 on usage errors."""
    parser = argparse.ArgumentParser(prog="attestation.py", description="Verify a Docket gate attestation offline.")
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify", help="verify a DSSE envelope file")
    verify.add_argument("file")
    verify.add_argument("--key", action="append", required=True, metavar="VKEY",
                        help="C2SP verifier key of the gate (GET /api/v1/gate/keys); repeatable")
    verify.add_argument("--artifact-sha256", help="also require the attestation to be about this artifact")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return 0 if exit_.code in (0, None) else 2
    try:
        with open(args.file, "rb") as handle:
            data = handle.read(MAX_ENVELOPE_BYTES + 1)
    except OSError as exc:
        print(f"attestation: {exc}", file=sys.stderr)
        return 2
    try:
        verified = verify_attestation(data, args.key, artifact_sha256=args.artifact_sha256)
    except AttestationError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    print("OK: the attestation verifies")
    print(describe(verified))
    return 0


if __name__ == "__main__":
    sys.exit(main())
