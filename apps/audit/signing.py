"""Ed25519 signing of checkpoints as C2SP signed notes, and the private key's life outside the database.

The private key is read from `settings.DOCKET_AUDIT_SIGNING_KEY` (the key text itself) or from the
file named by `settings.DOCKET_AUDIT_SIGNING_KEY_FILE`, in the signer-key format of Go's
golang.org/x/mod/sumdb/note: `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || 32-byte seed)>`.
It is never written to the database; only its public half is (models.SigningKey).

The witnesses whose cosignatures Docket accepts are configured here too: their public verifier keys
in `settings.DOCKET_AUDIT_WITNESS_KEYS` (`load_witness_keys`).
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings

from .verifier import (
    ED25519_SIGNATURE_TYPE,
    SIGNATURE_LINE_PREFIX,
    VerificationError,
    VerifierKey,
    format_vkey,
    key_id,
    parse_witness_vkey,
)

SIGNER_KEY_PREFIX = "PRIVATE+KEY+"


class SigningKeyError(Exception):
    """The signing key is missing, malformed, or may not be used."""


@dataclass(frozen=True)
class Signer:
    """An Ed25519 private key with the C2SP name and key ID it signs under."""

    name: str
    key_id: bytes
    public_key: bytes
    private_key: Ed25519PrivateKey

    @property
    def vkey(self) -> str:
        return format_vkey(self.name, self.public_key)

    @property
    def verifier_key(self) -> VerifierKey:
        return VerifierKey(name=self.name, key_id=self.key_id, public_key=self.public_key)

    def signer_key_text(self) -> str:
        """The private key in Go's signer-key format; handle it as a secret."""
        seed = self.private_key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        encoded = base64.b64encode(bytes([ED25519_SIGNATURE_TYPE]) + seed).decode("ascii")
        return f"{SIGNER_KEY_PREFIX}{self.name}+{self.key_id.hex()}+{encoded}"


def _check_name(name: str) -> None:
    if not name or "+" in name or any(ch.isspace() for ch in name):
        raise SigningKeyError(f"Invalid key name {name!r}: it must be non-empty, without spaces or '+'.")


def signer_from_private_key(name: str, private_key: Ed25519PrivateKey) -> Signer:
    _check_name(name)
    public_key = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return Signer(name=name, key_id=key_id(name, public_key), public_key=public_key, private_key=private_key)


def generate_signer(name: str) -> Signer:
    """A fresh Ed25519 signer named `name` (by convention the log's origin)."""
    return signer_from_private_key(name, Ed25519PrivateKey.generate())


def parse_signer_key(text: str) -> Signer:
    """Parses `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || seed)>`; refuses a key ID that does not match."""
    text = text.strip()
    if not text.startswith(SIGNER_KEY_PREFIX):
        raise SigningKeyError("A signer key starts with 'PRIVATE+KEY+'.")
    parts = text[len(SIGNER_KEY_PREFIX):].split("+", 2)  # the base64 key may itself contain "+"
    if len(parts) != 3:
        raise SigningKeyError("A signer key has the form PRIVATE+KEY+<name>+<hex key id>+<base64 key>.")
    name, hex_id, encoded = parts
    _check_name(name)
    try:
        raw = base64.b64decode(encoded, validate=True)
        claimed_id = bytes.fromhex(hex_id)
    except (binascii.Error, ValueError) as exc:
        raise SigningKeyError("The signer key's ID or key material is not valid hex/base64.") from exc
    if len(raw) != 33 or raw[0] != ED25519_SIGNATURE_TYPE:
        raise SigningKeyError("Only Ed25519 signer keys (type 0x01, 32-byte seed) are supported.")
    signer = signer_from_private_key(name, Ed25519PrivateKey.from_private_bytes(raw[1:]))
    if signer.key_id != claimed_id:
        raise SigningKeyError(f"Signer key {name}: the key ID {hex_id} does not match the key.")
    return signer


def sign_note(text: str, signer: Signer) -> str:
    """Signs `text` as a C2SP signed note: the text, a blank line, and `— <name> <base64(key id || sig)>`."""
    if not text or not text.endswith("\n") or "\n\n" in text:
        raise SigningKeyError("A note's text is non-empty, ends with a newline and has no blank line.")
    signature = signer.private_key.sign(text.encode("utf-8"))
    encoded = base64.b64encode(signer.key_id + signature).decode("ascii")
    return f"{text}\n{SIGNATURE_LINE_PREFIX}{signer.name} {encoded}\n"


def write_signer_key_file(path: Path, signer: Signer) -> None:
    """Writes the key file readable by its owner only (0600); refuses to overwrite an existing file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise SigningKeyError(f"{path} already exists; refusing to overwrite a signing key.") from exc
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(signer.signer_key_text() + "\n")


def load_signer() -> Signer:
    """The configured checkpoint signer: the environment's key text, else the key file.

    When neither exists and `settings.DOCKET_AUDIT_AUTOCREATE_KEY` is true (local demo and tests), a
    new key named `settings.DOCKET_AUDIT_ORIGIN` is generated into the key file; otherwise (production)
    a missing key is an error that says what to do.
    """
    if settings.DOCKET_AUDIT_SIGNING_KEY:
        return parse_signer_key(settings.DOCKET_AUDIT_SIGNING_KEY)
    path = Path(settings.DOCKET_AUDIT_SIGNING_KEY_FILE)
    if not path.exists():
        if not getattr(settings, "DOCKET_AUDIT_AUTOCREATE_KEY", False):
            raise SigningKeyError(
                f"No audit signing key: set DOCKET_AUDIT_SIGNING_KEY or create {path} with "
                "`manage.py audit init-key`."
            )
        try:
            write_signer_key_file(path, generate_signer(settings.DOCKET_AUDIT_ORIGIN))
        except SigningKeyError:
            pass  # another process created it first; read theirs
    return parse_signer_key(path.read_text(encoding="ascii"))


def load_witness_keys() -> list[VerifierKey]:
    """The witness cosignature keys Docket trusts: `settings.DOCKET_AUDIT_WITNESS_KEYS`, C2SP verifier
    keys of type 0x04 (c2sp.org/tlog-cosignature). Raises SigningKeyError naming a key that does not parse."""
    keys = []
    for position, text in enumerate(settings.DOCKET_AUDIT_WITNESS_KEYS, start=1):
        try:
            keys.append(parse_witness_vkey(text))
        except VerificationError as exc:
            raise SigningKeyError(f"DOCKET_AUDIT_WITNESS_KEYS, key {position} ({text!r}): {exc}") from exc
    return keys
