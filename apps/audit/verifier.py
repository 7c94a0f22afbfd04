"""Offline verifier for Docket's audit log: RFC 6962 Merkle proofs, C2SP signed notes and checkpoints,
and evidence packs (`docket-verify`).

This module is deliberately self-contained: it imports only the Python standard library and
`cryptography`, so an auditor can copy this one file and run it without Docket or Django.

References: RFC 9162 §2.1 (Merkle tree, inclusion and consistency proofs), c2sp.org/signed-note,
c2sp.org/tlog-checkpoint, c2sp.org/tlog-cosignature (witness cosignatures), c2sp.org/tlog-proof. The
evidence-pack layout is described in docs/evidence-pack.md.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime
import hashlib
import itertools
import json
import os
import sys
import tarfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

HASH_SIZE = 32
ED25519_SIGNATURE_TYPE = 0x01  # c2sp.org/signed-note: the log's own Ed25519 note signatures
COSIGNATURE_V1_TYPE = 0x04  # c2sp.org/tlog-cosignature: timestamped Ed25519 witness cosignatures
_KEY_KINDS = {
    ED25519_SIGNATURE_TYPE: "an Ed25519 note-signing key (type 0x01)",
    COSIGNATURE_V1_TYPE: "a cosignature/v1 witness key (type 0x04)",
}
COSIGNATURE_V1_HEADER = "cosignature/v1\n"
COSIGNATURE_V1_SIZE = 4 + 8 + 64  # key ID, big-endian timestamp, Ed25519 signature
MAX_COSIGNATURE_TIMESTAMP = 2**63 - 1
EMPTY_TREE_ROOT = hashlib.sha256(b"").digest()
SIGNATURE_LINE_PREFIX = "\u2014 "  # em dash (U+2014) and a space
MAX_NOTE_SIGNATURES = 100

_sha256 = hashlib.sha256


class VerificationError(Exception):
    """Verification failed. `index` names the first failing log entry when one can be named."""

    def __init__(self, message: str, *, index: int | None = None):
        super().__init__(message)
        self.index = index

    @property
    def reason(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        message = super().__str__()
        return message if self.index is None else f"entry {self.index}: {message}"


# --------------------------------------------------------------------------------------------------
# RFC 6962 / RFC 9162 §2.1 Merkle tree
# --------------------------------------------------------------------------------------------------


def hash_leaf(data: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || data)."""
    return _sha256(b"\x00" + data).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return _sha256(b"\x01" + left + right).digest()


class TreeBuilder:
    """Computes an RFC 6962 Merkle tree head incrementally from leaf hashes, in O(log n) memory.

    Keeps one hash per set bit of the number of leaves seen so far: the roots of the perfect
    subtrees that make up the tree. `root()` folds them right to left, which is exactly MTH(D[n]).
    """

    __slots__ = ("_stack", "size")

    def __init__(self) -> None:
        self._stack: list[bytes] = []
        self.size = 0

    def append(self, leaf_hash: bytes) -> None:
        stack = self._stack
        node = leaf_hash
        size = self.size
        while size & 1:
            node = _sha256(b"\x01" + stack.pop() + node).digest()
            size >>= 1
        stack.append(node)
        self.size += 1

    def extend_encoded(self, entries: Sequence[bytes]) -> None:
        """Appends the leaf hashes of many encoded entries; the hot loop of full-pack verification."""
        stack = self._stack
        size = self.size
        sha = _sha256
        for data in entries:
            node = sha(b"\x00" + data).digest()
            n = size
            while n & 1:
                node = sha(b"\x01" + stack.pop() + node).digest()
                n >>= 1
            stack.append(node)
            size += 1
        self.size = size

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_TREE_ROOT
        node = self._stack[-1]
        for left in reversed(self._stack[:-1]):
            node = hash_children(left, node)
        return node


def root_from_leaf_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """RFC 6962 Merkle tree head MTH(D[n]) of the given leaf hashes; SHA-256("") for no leaves."""
    builder = TreeBuilder()
    for leaf_hash in leaf_hashes:
        builder.append(leaf_hash)
    return builder.root()


def _require_hash(value: bytes, what: str) -> None:
    if not isinstance(value, (bytes, bytearray)) or len(value) != HASH_SIZE:
        raise VerificationError(f"{what} is not a {HASH_SIZE}-byte SHA-256 hash")


def verify_inclusion(
    *, leaf_index: int, tree_size: int, leaf_hash: bytes, proof: Sequence[bytes], root
) -> None:
    """Checks an RFC 9162 §2.1.3.2 inclusion proof; raises VerificationError (naming the leaf) if invalid."""
    if leaf_index < 0 or tree_size < 0:
        raise VerificationError("negative leaf index or tree size", index=leaf_index)
    if leaf_index >= tree_size:
        raise VerificationError(
            f"leaf index {leaf_index} is outside a tree of size {tree_size}", index=leaf_index
        )
    _require_hash(leaf_hash, "leaf hash")
    _require_hash(root, "root hash")
    fn, sn = leaf_index, tree_size - 1
    node = bytes(leaf_hash)
    for sibling in proof:
        if len(sibling) != HASH_SIZE:
            raise VerificationError("inclusion proof element is not 32 bytes", index=leaf_index)
        if sn == 0:
            raise VerificationError("inclusion proof is longer than the tree is deep", index=leaf_index)
        if fn & 1 or fn == sn:
            node = hash_children(sibling, node)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            node = hash_children(node, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("inclusion proof is shorter than the tree is deep", index=leaf_index)
    if node != root:
        raise VerificationError(
            f"inclusion proof does not lead to the root of the tree of size {tree_size}", index=leaf_index
        )


def verify_consistency(
    *, old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Checks an RFC 9162 §2.1.4.2 consistency proof that the tree of old_size is a prefix of new_size.

    Edge cases (they match the transparency-dev/merkle known answers in tests/audit/vectors/):
    - old_size > new_size: refused;
    - both sizes 0: the proof must be empty and both roots must be the empty-tree root SHA-256("");
    - old_size 0, new_size > 0: refused. Every tree extends the empty tree, so such a "proof" proves
      nothing and a caller asking for one has made a mistake;
    - equal non-zero sizes: the proof must be empty and the two roots byte-for-byte equal. No hashing
      is involved, so the roots' length is not examined (this is why the vector
      `sizes-are-equal-one-and-proof-is-empty.json` with 12-byte "roots" is accepted; checkpoints
      always carry 32-byte roots because `parse_checkpoint` enforces it).
    """
    if old_size < 0 or new_size < 0:
        raise VerificationError("negative tree size")
    if old_size > new_size:
        raise VerificationError(f"old tree size {old_size} is larger than new tree size {new_size}")
    if old_size == 0:
        if new_size != 0:
            raise VerificationError("a consistency proof from the empty tree proves nothing; refused")
        if proof:
            raise VerificationError("trees of equal size need an empty consistency proof")
        if bytes(old_root) != EMPTY_TREE_ROOT or bytes(new_root) != EMPTY_TREE_ROOT:
            raise VerificationError('the root of the empty tree is SHA-256("")')
        return
    if old_size == new_size:
        if proof:
            raise VerificationError("trees of equal size need an empty consistency proof")
        if bytes(old_root) != bytes(new_root):
            raise VerificationError(f"two different roots for the same tree size {old_size}")
        return
    _require_hash(old_root, "old root hash")
    _require_hash(new_root, "new root hash")
    if not proof:
        raise VerificationError("consistency proof is empty")
    for element in proof:
        if len(element) != HASH_SIZE:
            raise VerificationError("consistency proof element is not 32 bytes")
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # old tree is a perfect subtree: its root is the first node
        path.insert(0, bytes(old_root))
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    first = second = path[0]
    for node in path[1:]:
        if sn == 0:
            raise VerificationError("consistency proof is too long")
        if fn & 1 or fn == sn:
            first = hash_children(node, first)
            second = hash_children(node, second)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            second = hash_children(second, node)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("consistency proof is too short")
    if first != old_root:
        raise VerificationError(
            f"consistency proof does not reproduce the root of the tree of size {old_size}"
        )
    if second != new_root:
        raise VerificationError(
            f"consistency proof does not reproduce the root of the tree of size {new_size}"
        )


# --------------------------------------------------------------------------------------------------
# C2SP signed notes and verifier keys
# --------------------------------------------------------------------------------------------------


def key_id(name: str, public_key: bytes, signature_type: int = ED25519_SIGNATURE_TYPE) -> bytes:
    """C2SP key ID: the first 4 bytes of SHA-256(name || 0x0A || signature type || public key).

    The type is 0x01 for the log's Ed25519 note signatures and 0x04 for cosignature/v1 witness keys.
    """
    return _sha256(name.encode("utf-8") + b"\n" + bytes([signature_type]) + public_key).digest()[:4]


def _check_key_name(name: str) -> None:
    if not name or "+" in name or any(ch.isspace() for ch in name):
        raise VerificationError(f"invalid key name {name!r}: it must be non-empty, without spaces or '+'")


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise VerificationError(f"{what} is not valid base64") from exc


@dataclass(frozen=True)
class VerifierKey:
    """An Ed25519 verifier key: who signs (name), its 4-byte key ID and the 32-byte public key.

    `signature_type` says what the key verifies: 0x01 the log's note signatures (`open_note`), 0x04
    witness cosignatures (`verify_cosignature`). The key ID commits to it, so one public key never
    verifies both.
    """

    name: str
    key_id: bytes
    public_key: bytes
    signature_type: int = ED25519_SIGNATURE_TYPE

    def vkey(self) -> str:
        return format_vkey(self.name, self.public_key, self.signature_type)


def format_vkey(name: str, public_key: bytes, signature_type: int = ED25519_SIGNATURE_TYPE) -> str:
    """C2SP verifier key text: <name>+<hex key id>+<base64(signature type || 32-byte public key)>."""
    _check_key_name(name)
    if len(public_key) != 32:
        raise VerificationError("an Ed25519 public key is 32 bytes")
    if signature_type not in _KEY_KINDS:
        raise VerificationError(f"unsupported signature type 0x{signature_type:02x}")
    encoded = base64.b64encode(bytes([signature_type]) + public_key).decode("ascii")
    return f"{name}+{key_id(name, public_key, signature_type).hex()}+{encoded}"


def _parse_vkey(text: str, signature_type: int) -> VerifierKey:
    if not isinstance(text, str):
        raise VerificationError("a verifier key is text")
    parts = text.strip().split("+", 2)  # the base64 key may itself contain "+"
    if len(parts) != 3:
        raise VerificationError("a verifier key has the form <name>+<hex key id>+<base64 key>")
    name, hex_id, encoded = parts
    _check_key_name(name)
    if len(hex_id) != 8 or hex_id != hex_id.lower():
        raise VerificationError("a verifier key ID is 8 lower-case hex digits")
    try:
        claimed_id = bytes.fromhex(hex_id)
    except ValueError as exc:
        raise VerificationError("a verifier key ID is 8 lower-case hex digits") from exc
    raw = _b64decode(encoded, "verifier key")
    if len(raw) != 33 or raw[0] != signature_type:
        found = _KEY_KINDS.get(raw[0]) if len(raw) == 33 else None
        wanted = _KEY_KINDS[signature_type]
        if found is not None:
            raise VerificationError(f"verifier key {name} is {found}; {wanted} is needed here")
        if signature_type == ED25519_SIGNATURE_TYPE:
            raise VerificationError("only Ed25519 verifier keys (type 0x01, 32-byte key) are supported")
        raise VerificationError(f"a witness key must be {wanted} with a 32-byte Ed25519 public key")
    public_key = raw[1:]
    if key_id(name, public_key, signature_type) != claimed_id:
        raise VerificationError(f"verifier key {name}: key ID does not match the name and public key")
    return VerifierKey(name=name, key_id=claimed_id, public_key=public_key, signature_type=signature_type)


def parse_vkey(text: str) -> VerifierKey:
    """Parses a C2SP verifier key of the log (Ed25519, type 0x01); refuses other types and a key ID
    that does not match the key."""
    return _parse_vkey(text, ED25519_SIGNATURE_TYPE)


def parse_witness_vkey(text: str) -> VerifierKey:
    """Parses a witness's C2SP verifier key for Ed25519 cosignature/v1 (type 0x04,
    c2sp.org/tlog-cosignature); refuses other types and a key ID that does not match the key."""
    return _parse_vkey(text, COSIGNATURE_V1_TYPE)


def _split_note(note: str) -> tuple[str, list[str]]:
    if any(ord(ch) < 0x20 and ch != "\n" for ch in note):
        raise VerificationError("malformed note: it contains control characters")
    if not note.endswith("\n"):
        raise VerificationError("malformed note: it does not end with a newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise VerificationError("malformed note: no blank line separates the text from the signatures")
    text = note[: split + 1]
    signature_lines = note[split + 2 :].split("\n")[:-1]
    if not signature_lines:
        raise VerificationError("malformed note: it has no signatures")
    if len(signature_lines) > MAX_NOTE_SIGNATURES:
        raise VerificationError(f"malformed note: more than {MAX_NOTE_SIGNATURES} signatures")
    return text, signature_lines


def note_text(note: str) -> str:
    """The text of a signed note (what its signatures cover): everything before the last blank line,
    ending in a newline. Checks the note's shape, not its signatures."""
    return _split_note(note)[0]


def _split_signature_line(line: str, what: str) -> tuple[str, bytes]:
    """`— <name> <base64>` → (name, decoded bytes, key ID first); `what` names the line in errors."""
    if not line.startswith(SIGNATURE_LINE_PREFIX):
        raise VerificationError(f"malformed {what}: a signature line does not start with an em dash and a space")
    name, space, encoded = line[len(SIGNATURE_LINE_PREFIX) :].partition(" ")
    if not space or " " in encoded:
        raise VerificationError(f"malformed {what}: a signature line is not '— <name> <base64>'")
    _check_key_name(name)
    raw = _b64decode(encoded, "note signature" if what == "note" else f"the {what}'s signature")
    if len(raw) < 5:
        raise VerificationError(f"malformed {what}: a signature is too short")
    return name, raw


def open_note(note: str, keys: Sequence[VerifierKey]) -> tuple[str, list[VerifierKey]]:
    """Verifies a C2SP signed note against known keys; returns (text, keys whose signatures verified).

    Signatures whose (name, key ID) match no known key are ignored, as the spec requires; so are
    witness cosignatures, which `verify_cosignature` checks. Only Ed25519 note-signing keys (type
    0x01) are used. A signature from a known key that fails to verify rejects the whole note; so does
    a note that no known key signed.
    """
    text, signature_lines = _split_note(note)
    message = text.encode("utf-8")
    known = {(key.name, key.key_id): key for key in keys if key.signature_type == ED25519_SIGNATURE_TYPE}
    verified: list[VerifierKey] = []
    for line in signature_lines:
        name, raw = _split_signature_line(line, "note")
        key = known.get((name, raw[:4]))
        if key is None or key in verified:
            continue
        try:
            Ed25519PublicKey.from_public_bytes(key.public_key).verify(raw[4:], message)
        except InvalidSignature as exc:
            raise VerificationError(f"the signature of {name} (key {raw[:4].hex()}) does not verify") from exc
        verified.append(key)
    if not verified:
        raise VerificationError("the note is not signed by any trusted key")
    return text, verified


# --------------------------------------------------------------------------------------------------
# C2SP tlog-cosignature: witness cosignatures (cosignature/v1, Ed25519)
# --------------------------------------------------------------------------------------------------


class UnknownCosignerError(VerificationError):
    """The cosignature line's key name and key ID match no trusted witness key. c2sp.org/signed-note
    requires verifiers to ignore such lines; the reason still says whether the name or the ID differs."""


@dataclass(frozen=True)
class VerifiedCosignature:
    """A witness cosignature that verified: the trusted witness key and the time it states (POSIX seconds)."""

    witness: VerifierKey
    timestamp: int


def verify_cosignature(
    line: str, checkpoint_text: str, witness_keys: Sequence[VerifierKey]
) -> VerifiedCosignature:
    """Verifies one C2SP tlog-cosignature line (Ed25519 cosignature/v1) over a checkpoint.

    `line` is `— <witness name> <base64(key ID || 8-byte big-endian timestamp || Ed25519 signature)>`
    (a trailing newline is allowed); `checkpoint_text` is the checkpoint note's text, the part before
    the blank line, ending in a newline. The signed message is `cosignature/v1\\ntime <timestamp>\\n`
    followed by that text. Only keys of type 0x04 (`parse_witness_vkey`) are used.

    Raises UnknownCosignerError when no trusted witness key has the line's name, or none of that name
    has its key ID (callers ignore such lines, as c2sp.org/signed-note requires), and
    VerificationError when the line is malformed or its signature does not verify: a changed
    checkpoint, timestamp or signature byte all end there.
    """
    if not isinstance(line, str) or not isinstance(checkpoint_text, str):
        raise VerificationError("a cosignature line and a checkpoint are text")
    if line.endswith("\n"):
        line = line[:-1]
    if any(ord(ch) < 0x20 for ch in line):
        raise VerificationError("malformed cosignature line: it contains control characters or several lines")
    if not checkpoint_text.endswith("\n") or "\n\n" in checkpoint_text:
        raise VerificationError(
            "the checkpoint to check a cosignature against is the note's text before the blank line, "
            "ending in a newline"
        )
    name, raw = _split_signature_line(line, "cosignature line")
    named = [key for key in witness_keys if key.signature_type == COSIGNATURE_V1_TYPE and key.name == name]
    if not named:
        raise UnknownCosignerError(f"cosignature by {name}: no trusted witness key has this name")
    key = next((key for key in named if key.key_id == raw[:4]), None)
    if key is None:
        trusted = ", ".join(key.key_id.hex() for key in named)
        raise UnknownCosignerError(
            f"cosignature by {name}: its key ID {raw[:4].hex()} is not the ID of the trusted key "
            f"({trusted}); it is from another key of that name, or its key ID was changed"
        )
    who = f"the cosignature of {name} (key {key.key_id.hex()})"
    if len(raw) != COSIGNATURE_V1_SIZE:
        raise VerificationError(
            f"{who} is {len(raw)} bytes; a cosignature/v1 signature is {COSIGNATURE_V1_SIZE} "
            "(4-byte key ID, 8-byte timestamp, 64-byte Ed25519 signature)"
        )
    timestamp = int.from_bytes(raw[4:12], "big")
    if timestamp > MAX_COSIGNATURE_TIMESTAMP:
        raise VerificationError(f"{who} has a timestamp above 2^63 - 1, which cosignature/v1 forbids")
    try:
        message = f"{COSIGNATURE_V1_HEADER}time {timestamp}\n{checkpoint_text}".encode("utf-8")
        Ed25519PublicKey.from_public_bytes(key.public_key).verify(raw[12:], message)
    except (InvalidSignature, UnicodeEncodeError, ValueError) as exc:
        raise VerificationError(
            f"{who} does not verify: the checkpoint, the timestamp or the signature is not what the witness signed"
        ) from exc
    return VerifiedCosignature(witness=key, timestamp=timestamp)


def verify_note_cosignatures(note: str, witness_keys: Sequence[VerifierKey]) -> list[VerifiedCosignature]:
    """Checks every cosignature line of a signed checkpoint note that comes from a trusted witness key.

    Lines from other keys (the log's own signature among them) are ignored; the first line from a
    trusted witness key that does not verify raises VerificationError. Returns the cosignatures that
    verified, in the note's order. The log's signature is `open_note`'s business, not checked here.
    """
    text, signature_lines = _split_note(note)
    verified = []
    for line in signature_lines:
        try:
            verified.append(verify_cosignature(line, text, witness_keys))
        except UnknownCosignerError:
            continue
    return verified


def format_cosignature_time(timestamp: int) -> str:
    """A cosignature's timestamp as `YYYY-MM-DD HH:MM:SS UTC`, or `time <n>` when it is not a date."""
    try:
        moment = datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC)
    except (OverflowError, OSError, ValueError):
        return f"time {timestamp}"
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


# --------------------------------------------------------------------------------------------------
# C2SP tlog-checkpoint
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """The body of a C2SP tlog-checkpoint: origin, tree size, root hash and optional extension lines."""

    origin: str
    tree_size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()


def format_checkpoint(origin: str, tree_size: int, root_hash: bytes) -> str:
    """The checkpoint note text: origin line, decimal tree size, base64 root hash, each ending "\\n"."""
    if not origin or "\n" in origin:
        raise VerificationError("a checkpoint origin is one non-empty line")
    if tree_size < 0:
        raise VerificationError("a tree size cannot be negative")
    _require_hash(root_hash, "root hash")
    return f"{origin}\n{tree_size}\n{base64.b64encode(root_hash).decode('ascii')}\n"


def parse_checkpoint(text: str) -> Checkpoint:
    """Parses checkpoint note text (not the signatures: call `open_note` first)."""
    if not text.endswith("\n"):
        raise VerificationError("malformed checkpoint: it does not end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise VerificationError("malformed checkpoint: it needs an origin, a tree size and a root hash")
    origin, size_line, root_line, *extensions = lines
    if not origin:
        raise VerificationError("malformed checkpoint: empty origin")
    if not size_line.isascii() or not size_line.isdigit() or (size_line != "0" and size_line.startswith("0")):
        raise VerificationError("malformed checkpoint: the tree size is not a decimal without leading zeros")
    root_hash = _b64decode(root_line, "checkpoint root hash")
    _require_hash(root_hash, "checkpoint root hash")
    if any(not line for line in extensions):
        raise VerificationError("malformed checkpoint: empty extension line")
    return Checkpoint(
        origin=origin, tree_size=int(size_line), root_hash=root_hash, extensions=tuple(extensions)
    )


# --------------------------------------------------------------------------------------------------
# C2SP tlog-proof and Docket's consistency-proof file
# --------------------------------------------------------------------------------------------------

TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"
CONSISTENCY_PROOF_HEADER = "docket.audit/consistency-proof@v1"


@dataclass(frozen=True)
class TlogProof:
    """A parsed C2SP tlog-proof: entry index, inclusion proof, the signed checkpoint note, extra data."""

    index: int
    proof: tuple[bytes, ...]
    checkpoint_note: str
    extra: bytes | None = None


def _decimal(text: str, what: str) -> int:
    if not text.isascii() or not text.isdigit() or (text != "0" and text.startswith("0")):
        raise VerificationError(f"{what} is not a decimal number without leading zeros")
    return int(text)


def format_tlog_proof(
    *, index: int, proof: Sequence[bytes], checkpoint_note: str, extra: bytes | None = None
) -> str:
    """c2sp.org/tlog-proof@v1: header, optional extra, index, one base64 hash per line, blank line, checkpoint."""
    lines = [TLOG_PROOF_HEADER]
    if extra is not None:
        lines.append("extra " + base64.b64encode(extra).decode("ascii"))
    lines.append(f"index {index}")
    lines.extend(base64.b64encode(node).decode("ascii") for node in proof)
    return "\n".join(lines) + "\n\n" + checkpoint_note


def parse_tlog_proof(text: str) -> TlogProof:
    """Parses a c2sp.org/tlog-proof@v1 file; the embedded checkpoint still has to be opened and verified."""
    head, separator, checkpoint_note = text.partition("\n\n")
    if not separator:
        raise VerificationError("malformed tlog-proof: no blank line before the checkpoint")
    lines = head.split("\n")
    if lines[0] != TLOG_PROOF_HEADER:
        raise VerificationError(f"malformed tlog-proof: the first line must be {TLOG_PROOF_HEADER}")
    position = 1
    extra = None
    if len(lines) > position and lines[position].startswith("extra "):
        extra = _b64decode(lines[position][6:], "tlog-proof extra data")
        position += 1
    if len(lines) <= position or not lines[position].startswith("index "):
        raise VerificationError("malformed tlog-proof: missing the index line")
    index = _decimal(lines[position][6:], "tlog-proof index")
    proof = tuple(_b64decode(line, "tlog-proof hash") for line in lines[position + 1 :])
    return TlogProof(index=index, proof=proof, checkpoint_note=checkpoint_note, extra=extra)


@dataclass(frozen=True)
class ConsistencyProof:
    """A consistency proof between two tree sizes (RFC 9162 §2.1.4), as a pack or the API carries it."""

    old_size: int
    new_size: int
    proof: tuple[bytes, ...]


def format_consistency_proof(*, old_size: int, new_size: int, proof: Sequence[bytes]) -> str:
    """Docket's consistency-proof file: header line, 'old N', 'new M', then one base64 hash per line."""
    lines = [CONSISTENCY_PROOF_HEADER, f"old {old_size}", f"new {new_size}"]
    lines.extend(base64.b64encode(node).decode("ascii") for node in proof)
    return "\n".join(lines) + "\n"


def parse_consistency_proof(text: str) -> ConsistencyProof:
    """Reads a consistency proof in Docket's text format, or the JSON the API returns
    ({"old_size": N, "new_size": M, "proof": [base64, ...]})."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
            return ConsistencyProof(
                old_size=int(data["old_size"]),
                new_size=int(data["new_size"]),
                proof=tuple(_b64decode(node, "consistency proof hash") for node in data["proof"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise VerificationError("malformed consistency proof JSON") from exc
    lines = stripped.split("\n")
    if len(lines) < 3 or lines[0] != CONSISTENCY_PROOF_HEADER:
        raise VerificationError(
            f"malformed consistency proof: the first line must be {CONSISTENCY_PROOF_HEADER}"
        )
    if not lines[1].startswith("old ") or not lines[2].startswith("new "):
        raise VerificationError("malformed consistency proof: expected 'old N' and 'new M' lines")
    return ConsistencyProof(
        old_size=_decimal(lines[1][4:], "old tree size"),
        new_size=_decimal(lines[2][4:], "new tree size"),
        proof=tuple(_b64decode(line, "consistency proof hash") for line in lines[3:]),
    )


# --------------------------------------------------------------------------------------------------
# Evidence packs (layout: docs/evidence-pack.md)
# --------------------------------------------------------------------------------------------------

PACK_FORMAT = "docket-evidence-pack@v1"
MANIFEST = "manifest.json"
ENTRIES = "entries.jsonl"
LEAF_HASHES = "leaf-hashes.bin"
README = "README.md"
KEYS = "keys/verifier-keys.json"
WITNESS_KEYS = "keys/witness-keys.json"
PACK_KINDS = ("full", "range", "subject")
ENTRY_FORMAT = 1
ENTRY_KEYS = frozenset({"action", "actor", "data", "index", "request_id", "subject", "timestamp", "v"})
_READ_CHUNK = 1 << 23


def checkpoint_path(tree_size: int) -> str:
    return f"checkpoints/{tree_size}.checkpoint"


def inclusion_proof_path(index: int) -> str:
    return f"proofs/{index}.tlog-proof"


def consistency_proof_path(old_size: int, new_size: int) -> str:
    return f"consistency/{old_size}-{new_size}.proof"


class PackUnreadable(Exception):
    """The pack cannot be read at all (missing path, unreadable file): a usage or I/O problem."""


@dataclass(frozen=True)
class PackReport:
    """What a successful verification established."""

    kind: str
    origin: str
    entry_count: int
    first_index: int | None
    last_index: int | None
    checkpoint_sizes: tuple[int, ...]
    signed_by: tuple[str, ...]
    kept_checkpoint_sizes: tuple[int, ...]
    root_recomputed: bool
    encoding_checked: bool
    # Witness cosignatures on the newest checkpoint, as (witness name, cosignature time), one per
    # witness; `min_witnesses` is None when no witness key was given (cosignatures were not checked).
    witnessed_by: tuple[tuple[str, int], ...] = ()
    min_witnesses: int | None = None


def _reject_float(text: str):
    raise ValueError("floating-point number")


def check_entry_encoding(line: bytes, *, position: int | None = None) -> dict:
    """Checks that `line` is a canonical format-1 entry (docs/audit-log.md) and returns it parsed."""
    try:
        entry = json.loads(line.decode("utf-8"), parse_float=_reject_float, parse_constant=_reject_float)
    except (UnicodeDecodeError, ValueError) as exc:
        raise VerificationError(f"the entry is not valid canonical JSON ({exc})", index=position) from exc
    if not isinstance(entry, dict) or set(entry) != ENTRY_KEYS:
        raise VerificationError("the entry does not have exactly the format-1 fields", index=position)
    if entry["v"] != ENTRY_FORMAT:
        raise VerificationError(f"unknown entry format version {entry['v']!r}", index=position)
    index = entry["index"]
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise VerificationError("the entry's index is not a non-negative integer", index=position)
    for field, keys in (("actor", {"type", "id", "name"}), ("subject", {"type", "id", "label"})):
        value = entry[field]
        if (
            not isinstance(value, dict)
            or set(value) != keys
            or not all(isinstance(v, str) for v in value.values())
        ):
            raise VerificationError(
                f"the entry's {field} is malformed", index=position if position is not None else index
            )
    canonical = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    if canonical.encode("utf-8") != line:
        raise VerificationError(
            "the entry is not in canonical encoding", index=position if position is not None else index
        )
    return entry


class _PackFiles:
    """Reads a pack (directory, .tar or .tar.gz) in one pass: every file but entries.jsonl is loaded,
    then entries.jsonl, which must come last in an archive, is handed over as a stream."""

    def __init__(self, path: str):
        self.path = path

    def read(self, consume_entries) -> tuple[dict[str, bytes], object]:
        if os.path.isdir(self.path):
            return self._read_directory(consume_entries)
        if not os.path.isfile(self.path):
            raise PackUnreadable(f"{self.path}: no such file or directory")
        return self._read_archive(consume_entries)

    def _read_directory(self, consume_entries):
        files: dict[str, bytes] = {}
        entries_path = None
        for directory, subdirectories, names in os.walk(self.path):
            subdirectories.sort()
            for name in sorted(names):
                full = os.path.join(directory, name)
                relative = os.path.relpath(full, self.path).replace(os.sep, "/")
                if os.path.islink(full):
                    raise VerificationError(f"the pack contains a symbolic link: {relative}")
                if relative == ENTRIES:
                    entries_path = full
                    continue
                with open(full, "rb") as handle:
                    files[relative] = handle.read()
        if entries_path is None:
            raise VerificationError(f"the pack has no {ENTRIES}")
        with open(entries_path, "rb") as handle:
            result = consume_entries(files, handle)
        return files, result

    def _read_archive(self, consume_entries):
        files: dict[str, bytes] = {}
        result = None
        seen_entries = False
        prefix = None
        try:
            with tarfile.open(self.path, mode="r|*") as archive:
                for member in archive:
                    if member.isdir():
                        continue
                    if not member.isfile():
                        raise VerificationError(
                            f"the pack contains something other than a file: {member.name}"
                        )
                    top, _, relative = member.name.partition("/")
                    if not relative:
                        raise VerificationError(
                            f"files in the archive must be inside one folder: {member.name}"
                        )
                    if prefix is None:
                        prefix = top
                    elif top != prefix:
                        raise VerificationError(
                            f"files in the archive must be inside one folder: {member.name}"
                        )
                    if seen_entries:
                        raise VerificationError(
                            f"{ENTRIES} must be the last file of the archive ({relative} follows it)"
                        )
                    handle = archive.extractfile(member)
                    if relative == ENTRIES:
                        seen_entries = True
                        result = consume_entries(files, handle)
                    else:
                        files[relative] = handle.read()
        except (tarfile.TarError, EOFError, zlib.error) as exc:
            raise VerificationError(f"the archive is damaged or not a tar archive ({exc})") from exc
        except PermissionError as exc:
            raise PackUnreadable(str(exc)) from exc
        if not seen_entries:
            raise VerificationError(f"the pack has no {ENTRIES}")
        return files, result


def _load_manifest(files: dict[str, bytes]) -> dict:
    raw = files.get(MANIFEST)
    if raw is None:
        raise VerificationError(f"the pack has no {MANIFEST}")
    try:
        manifest = json.loads(raw)
    except ValueError as exc:
        raise VerificationError(f"{MANIFEST} is not valid JSON") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != PACK_FORMAT:
        raise VerificationError(f"{MANIFEST} does not describe a {PACK_FORMAT} pack")
    if manifest.get("kind") not in PACK_KINDS:
        raise VerificationError(f"unknown pack kind {manifest.get('kind')!r}")
    if manifest.get("entry_format") != ENTRY_FORMAT:
        raise VerificationError(f"unsupported entry format {manifest.get('entry_format')!r}")
    for field in ("origin", "checkpoints", "files", "entry_count"):
        if field not in manifest:
            raise VerificationError(f"{MANIFEST} lacks '{field}'")
    return manifest


class _PackVerifier:
    """One verification run over one pack; `run()` returns a PackReport or raises VerificationError."""

    def __init__(self, path, *, keys, kept_notes, extra_consistency, check_encoding, witness_keys=(),
                 min_witnesses=0):
        if not keys:
            raise VerificationError("no pinned verifier key given")
        witnesses = {key.name for key in witness_keys if key.signature_type == COSIGNATURE_V1_TYPE}
        if not isinstance(min_witnesses, int) or min_witnesses < 0:
            raise VerificationError("the minimum number of witnesses is a whole number, 0 or more")
        if min_witnesses > len(witnesses):
            raise VerificationError(
                f"{min_witnesses} witnesses are required but keys of only {len(witnesses)} distinct witnesses "
                "are trusted"
            )
        self.path = str(path)
        self.keys = list(keys)
        self.witness_keys = list(witness_keys)
        self.min_witnesses = min_witnesses
        self.cosignatures: dict[str, list[VerifiedCosignature]] = {}
        self.kept_notes = list(kept_notes)
        self.extra_consistency = list(extra_consistency)
        self.check_encoding = check_encoding
        self.signed_by: set[str] = set()
        self.note_cache: dict[str, Checkpoint] = {}

    # -- checkpoints ---------------------------------------------------------------------------------

    def open_checkpoint(self, note: str, *, what: str) -> Checkpoint:
        cached = self.note_cache.get(note)
        if cached is not None:
            return cached
        try:
            text, verified = open_note(note, self.keys)
            checkpoint = parse_checkpoint(text)
            # A cosignature from a trusted witness that does not verify is tampering, wherever it is.
            cosignatures = verify_note_cosignatures(note, self.witness_keys) if self.witness_keys else []
        except VerificationError as exc:
            raise VerificationError(f"{what}: {exc.reason}") from exc
        if checkpoint.origin != self.origin:
            raise VerificationError(
                f"{what}: origin {checkpoint.origin!r} is not the pack's origin {self.origin!r}"
            )
        self.signed_by.update(key.vkey() for key in verified)
        self.note_cache[note] = checkpoint
        self.cosignatures[note] = cosignatures
        return checkpoint

    def load_checkpoints(self, files, manifest) -> dict[int, Checkpoint]:
        sizes = manifest["checkpoints"]
        if not isinstance(sizes, list) or not sizes or sizes != sorted(set(sizes)):
            raise VerificationError(f"{MANIFEST} must list the pack's checkpoint sizes in increasing order")
        checkpoints: dict[int, Checkpoint] = {}
        self.checkpoint_notes: dict[int, str] = {}
        for size in sizes:
            name = checkpoint_path(size)
            if name not in files:
                raise VerificationError(f"checkpoint of size {size} listed in {MANIFEST} is missing ({name})")
            try:
                note = files[name].decode("utf-8", errors="strict")
            except UnicodeDecodeError as exc:
                raise VerificationError(f"checkpoint {name} is not UTF-8 text") from exc
            checkpoint = self.open_checkpoint(note, what=f"checkpoint {name}")
            if checkpoint.tree_size != size:
                raise VerificationError(f"{name} signs tree size {checkpoint.tree_size}, not {size}")
            checkpoints[size] = checkpoint
            self.checkpoint_notes[size] = note
        return checkpoints

    def witnesses_of(self, size: int) -> tuple[tuple[str, int], ...]:
        """The trusted witnesses that cosigned the pack's checkpoint of `size`: (name, time), one each."""
        first: dict[str, int] = {}
        for cosignature in self.cosignatures.get(self.checkpoint_notes[size], ()):
            first.setdefault(cosignature.witness.name, cosignature.timestamp)
        return tuple(sorted(first.items()))

    def check_witnesses(self, newest: int) -> None:
        witnessed = self.witnesses_of(newest)
        if len(witnessed) < self.min_witnesses:
            names = ", ".join(name for name, _ in witnessed) or "none"
            raise VerificationError(
                f"checkpoint {checkpoint_path(newest)} (tree size {newest}) carries valid cosignatures from "
                f"{len(witnessed)} trusted witness(es) ({names}); at least {self.min_witnesses} are required"
            )

    def find_consistency(self, files, old_size: int, new_size: int) -> ConsistencyProof | None:
        for proof in self.extra_consistency:
            if (proof.old_size, proof.new_size) == (old_size, new_size):
                return proof
        raw = files.get(consistency_proof_path(old_size, new_size))
        if raw is None:
            return None
        proof = parse_consistency_proof(raw.decode("utf-8"))
        if (proof.old_size, proof.new_size) != (old_size, new_size):
            raise VerificationError(f"{consistency_proof_path(old_size, new_size)} is for other tree sizes")
        return proof

    def check_consistency(self, files, old: Checkpoint, new: Checkpoint, *, required: bool) -> bool:
        if old.tree_size == new.tree_size:
            if old.root_hash != new.root_hash:
                raise VerificationError(
                    f"two different signed roots for tree size {old.tree_size}: the log has forked",
                    index=old.tree_size,
                )
            return True
        proof = self.find_consistency(files, old.tree_size, new.tree_size)
        if proof is None:
            if required:
                raise VerificationError(
                    f"no consistency proof from tree size {old.tree_size} to {new.tree_size} in the pack or on the command line"
                )
            return False
        try:
            verify_consistency(
                old_size=old.tree_size,
                new_size=new.tree_size,
                old_root=old.root_hash,
                new_root=new.root_hash,
                proof=proof.proof,
            )
        except VerificationError as exc:
            raise VerificationError(
                f"checkpoints of size {old.tree_size} and {new.tree_size} are inconsistent: {exc.reason}",
                index=old.tree_size,
            ) from exc
        return True

    # -- the run ---------------------------------------------------------------------------------------

    def run(self) -> PackReport:
        pack = _PackFiles(self.path)
        self.digests: dict[str, str] = {}
        files, entries_result = pack.read(self.consume_entries)
        manifest = self.manifest
        listed = manifest["files"]
        present = set(files) | {ENTRIES}
        present.discard(MANIFEST)
        for name in sorted(set(listed) | present):
            if name not in present:
                raise VerificationError(f"{name} is listed in {MANIFEST} but missing from the pack")
            if name not in listed:
                raise VerificationError(f"{name} is in the pack but not listed in {MANIFEST}")
            digest = self.digests[ENTRIES] if name == ENTRIES else hashlib.sha256(files[name]).hexdigest()
            if digest != listed[name]:
                raise VerificationError(f"{name} does not match its SHA-256 in {MANIFEST}")
        count, first, last = entries_result
        return PackReport(
            kind=manifest["kind"],
            origin=self.origin,
            entry_count=count,
            first_index=first,
            last_index=last,
            checkpoint_sizes=tuple(sorted(self.checkpoints)),
            signed_by=tuple(sorted(self.signed_by)),
            kept_checkpoint_sizes=tuple(sorted(cp.tree_size for cp in self.kept)),
            root_recomputed=manifest["kind"] == "full",
            encoding_checked=self.check_encoding or manifest["kind"] != "full",
            witnessed_by=self.witnesses_of(max(self.checkpoints)) if self.witness_keys else (),
            min_witnesses=self.min_witnesses if self.witness_keys else None,
        )

    def prepare(self, files) -> None:
        """Everything that does not need the entries: manifest, checkpoints, consistency, kept checkpoints."""
        manifest = self.manifest = _load_manifest(files)
        self.origin = manifest["origin"]
        checkpoints = self.checkpoints = self.load_checkpoints(files, manifest)
        sizes = sorted(checkpoints)
        if self.witness_keys:
            self.check_witnesses(sizes[-1])
        kind = manifest["kind"]
        self.expected_roots: dict[int, bytes] = {}
        if kind == "full":
            # The entries themselves prove every checkpoint's root; consistency files are not needed.
            for size, checkpoint in checkpoints.items():
                self.expected_roots[size] = checkpoint.root_hash
        else:
            for older, newer in itertools.pairwise(sizes):
                self.check_consistency(files, checkpoints[older], checkpoints[newer], required=True)
        newest = checkpoints[sizes[-1]]
        self.kept = []
        for position, note in enumerate(self.kept_notes):
            kept = self.open_checkpoint(note, what=f"kept checkpoint #{position + 1}")
            self.kept.append(kept)
            same = checkpoints.get(kept.tree_size)
            if same is not None:
                self.check_consistency(files, kept, same, required=True)
            elif kind == "full" and kept.tree_size < newest.tree_size:
                self.expected_roots[kept.tree_size] = kept.root_hash
            elif kept.tree_size > newest.tree_size:
                if self.find_consistency(files, newest.tree_size, kept.tree_size) is None:
                    raise VerificationError(
                        f"the kept checkpoint (size {kept.tree_size}) is newer than the pack's newest checkpoint "
                        f"(size {newest.tree_size}): the pack is rolled back or stale; pass --consistency-proof "
                        f"{newest.tree_size}->{kept.tree_size} to connect them",
                        index=newest.tree_size,
                    )
                self.check_consistency(files, newest, kept, required=True)
            else:
                later = min(size for size in sizes if size > kept.tree_size)
                connected = any(
                    self.check_consistency(files, kept, checkpoints[size], required=False)
                    for size in sizes
                    if size > kept.tree_size
                )
                if not connected:
                    raise VerificationError(
                        f"no consistency proof connects the kept checkpoint (size {kept.tree_size}) to the pack; "
                        f"pass --consistency-proof {kept.tree_size}->{later}"
                    )

    def consume_entries(self, files, handle):
        self.prepare(files)
        digest = hashlib.sha256()
        if self.manifest["kind"] == "full":
            result = self.verify_full(files, handle, digest)
        else:
            result = self.verify_partial(files, handle, digest)
        self.digests[ENTRIES] = digest.hexdigest()
        return result

    @staticmethod
    def batches(handle, digest):
        """Yields lists of entry lines, reading large chunks; every line must end with a newline."""
        rest = b""
        while True:
            chunk = handle.read(_READ_CHUNK)
            if not chunk:
                break
            digest.update(chunk)
            lines = (rest + chunk).split(b"\n") if rest else chunk.split(b"\n")
            rest = lines.pop()
            yield lines
        if rest:
            yield [None]  # an unterminated last line: reported by the caller with its position

    # -- full packs: recompute the tree ---------------------------------------------------------------

    def verify_full(self, files, handle, digest):
        newest = max(self.checkpoints)
        leaf_hashes = files.get(LEAF_HASHES)
        if leaf_hashes is None or len(leaf_hashes) % HASH_SIZE:
            raise VerificationError(f"a full pack needs {LEAF_HASHES} (32 bytes per entry)")
        if len(leaf_hashes) // HASH_SIZE != newest:
            raise VerificationError(
                f"{LEAF_HASHES} holds {len(leaf_hashes) // HASH_SIZE} hashes but the newest checkpoint covers {newest} entries",
                index=min(newest, len(leaf_hashes) // HASH_SIZE),
            )
        expected = self.expected_roots
        stops = sorted(size for size in expected if size > 0)
        if 0 in expected and expected[0] != EMPTY_TREE_ROOT:
            raise VerificationError('a checkpoint of size 0 must carry the empty-tree root SHA-256("")')
        stop_iter = iter(stops)
        next_stop = next(stop_iter, None)
        check_encoding = self.check_encoding
        sha = _sha256
        stack: list[bytes] = []
        push, pop = stack.append, stack.pop
        size = 0
        marker = b',"index":'
        for batch in self.batches(handle, digest):
            for line in batch:
                if line is None:
                    raise VerificationError(f"the last line of {ENTRIES} has no newline", index=size)
                if size >= newest:
                    raise VerificationError(
                        f"the pack has more entries than its newest checkpoint covers ({newest})", index=size
                    )
                node = sha(b"\x00" + line).digest()
                offset = size * HASH_SIZE
                if node != leaf_hashes[offset : offset + HASH_SIZE]:
                    raise VerificationError(
                        "the entry's bytes do not match the leaf hash the log recorded for this position",
                        index=size,
                    )
                found = line.rfind(marker)
                end = line.find(b",", found + 9)
                if found < 0 or line[found + 9 : end] != b"%d" % size or not line.endswith(b',"v":1}'):
                    raise VerificationError(
                        "the entry's own index field does not match its position in the log "
                        "(an entry was removed, inserted or moved)",
                        index=size,
                    )
                if check_encoding:
                    check_entry_encoding(line, position=size)
                n = size
                while n & 1:
                    node = sha(b"\x01" + pop() + node).digest()
                    n >>= 1
                push(node)
                size += 1
                if size == next_stop:
                    root = stack[-1]
                    for left in reversed(stack[:-1]):
                        root = sha(b"\x01" + left + root).digest()
                    if root != expected[size]:
                        raise VerificationError(
                            f"the first {size} entries do not produce the root signed at tree size {size}; "
                            f"{LEAF_HASHES} and {ENTRIES} were changed together or the checkpoint is not this log's",
                            index=size - 1,
                        )
                    next_stop = next(stop_iter, None)
        if size < newest:
            raise VerificationError(
                f"the pack ends after {size} entries but its newest checkpoint covers {newest} (the tail is missing)",
                index=size,
            )
        return size, (0 if size else None), (size - 1 if size else None)

    # -- partial packs: one inclusion proof per entry -------------------------------------------------

    def verify_partial(self, files, handle, digest):
        manifest = self.manifest
        kind = manifest["kind"]
        selection = manifest.get("selection") or {}
        if kind == "range":
            start, end = selection.get("start"), selection.get("end")
            if not isinstance(start, int) or not isinstance(end, int) or not 0 <= start <= end:
                raise VerificationError(f"{MANIFEST}: a range pack needs integer start <= end")
            expected_indexes = None
        else:
            subject_type, subject_id = selection.get("subject_type"), selection.get("subject_id")
            expected_indexes = manifest.get("indexes")
            if not isinstance(subject_type, str) or not isinstance(expected_indexes, list):
                raise VerificationError(
                    f"{MANIFEST}: a subject pack needs subject_type and the list of indexes"
                )
        count = 0
        previous = -1
        first = None
        for batch in self.batches(handle, digest):
            for line in batch:
                position = (
                    expected_indexes[count] if expected_indexes and count < len(expected_indexes) else None
                )
                if line is None:
                    raise VerificationError(f"the last line of {ENTRIES} has no newline", index=position)
                entry = check_entry_encoding(line, position=None)
                index = entry["index"]
                if kind == "range":
                    if index != start + count:
                        missing = start + count
                        raise VerificationError(
                            f"the range pack should hold entry {missing} here but holds entry {index} "
                            "(an entry was removed, inserted or moved)",
                            index=missing,
                        )
                    if index >= end:
                        raise VerificationError(
                            f"entry outside the pack's range [{start}, {end})", index=index
                        )
                else:
                    if index <= previous:
                        raise VerificationError("entries are not in increasing index order", index=index)
                    if position is None or index != position:
                        raise VerificationError(
                            f"entry {index} is not where {MANIFEST} lists it (expected entry {position})",
                            index=index if position is None else min(index, position),
                        )
                    if (entry["subject"]["type"], entry["subject"]["id"]) != (subject_type, str(subject_id)):
                        raise VerificationError(
                            "the entry is about another subject than the pack's", index=index
                        )
                self.verify_entry_proof(files, index, line)
                previous = index
                first = index if first is None else first
                count += 1
        if kind == "range" and count != end - start:
            raise VerificationError(
                f"the range pack ends after {count} entries but covers [{start}, {end})", index=start + count
            )
        if kind == "subject" and count != len(expected_indexes):
            raise VerificationError(
                f"{MANIFEST} lists {len(expected_indexes)} entries but the pack holds {count}",
                index=expected_indexes[count],
            )
        if manifest["entry_count"] != count:
            raise VerificationError(
                f"{MANIFEST} says {manifest['entry_count']} entries but the pack holds {count}"
            )
        return count, first, (previous if count else None)

    def verify_entry_proof(self, files, index: int, line: bytes) -> None:
        raw = files.get(inclusion_proof_path(index))
        if raw is None:
            raise VerificationError(f"no inclusion proof ({inclusion_proof_path(index)})", index=index)
        try:
            proof = parse_tlog_proof(raw.decode("utf-8"))
        except (VerificationError, UnicodeDecodeError) as exc:
            raise VerificationError(f"malformed inclusion proof: {exc}", index=index) from exc
        if proof.index != index:
            raise VerificationError(f"the inclusion proof is for entry {proof.index}", index=index)
        try:
            checkpoint = self.open_checkpoint(
                proof.checkpoint_note, what="checkpoint inside the inclusion proof"
            )
        except VerificationError as exc:
            raise VerificationError(exc.reason, index=index) from exc
        if self.checkpoints.get(checkpoint.tree_size) != checkpoint:
            raise VerificationError(
                f"the inclusion proof's checkpoint (size {checkpoint.tree_size}) is not one of the pack's checkpoints",
                index=index,
            )
        verify_inclusion(
            leaf_index=index,
            tree_size=checkpoint.tree_size,
            leaf_hash=hash_leaf(line),
            proof=proof.proof,
            root=checkpoint.root_hash,
        )


def verify_pack(
    path,
    *,
    keys: Sequence[VerifierKey],
    kept_checkpoints: Sequence[str] = (),
    consistency_proofs: Sequence[ConsistencyProof] = (),
    check_encoding: bool = False,
    witness_keys: Sequence[VerifierKey] = (),
    min_witnesses: int = 0,
) -> PackReport:
    """Verifies an evidence pack against pinned keys; raises VerificationError at the first failure.

    `kept_checkpoints` are signed notes the auditor saved earlier; each must be consistent with the
    pack (recomputed from the entries of a full pack, or through a consistency proof from the pack or
    from `consistency_proofs`). The keys inside the pack are never used.

    `witness_keys` are trusted witness cosignature keys (`parse_witness_vkey`). With them, every
    cosignature line of a trusted witness on any checkpoint must verify, and the pack's newest
    checkpoint must be cosigned by at least `min_witnesses` distinct trusted witnesses. Cosignatures
    from other keys are ignored.
    """
    return _PackVerifier(
        path,
        keys=keys,
        kept_notes=kept_checkpoints,
        extra_consistency=consistency_proofs,
        check_encoding=check_encoding,
        witness_keys=witness_keys,
        min_witnesses=min_witnesses,
    ).run()


# --------------------------------------------------------------------------------------------------
# docket-verify
# --------------------------------------------------------------------------------------------------

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _UsageError(Exception):
    pass


def _read_text(path: str, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise _UsageError(f"cannot read {what} {path}: {exc}") from exc


def _load_keys(values: Sequence[str], *, parse=parse_vkey, what: str = "verifier key") -> list[VerifierKey]:
    keys = []
    for value in values:
        text = _read_text(value, "key file") if os.path.isfile(value) else value
        lines = [
            line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
        ]
        if not lines:
            raise _UsageError(f"no {what} in {value!r}")
        for line in lines:
            try:
                keys.append(parse(line))
            except VerificationError as exc:
                raise _UsageError(f"bad {what} {line!r}: {exc}") from exc
    return keys


def _min_witnesses(value: str | None, witness_keys: Sequence[VerifierKey]) -> int:
    """--min-witnesses: a whole number, at most the number of distinct trusted witnesses; by default 1
    when witness keys are given, else 0."""
    if value is None:
        return 1 if witness_keys else 0
    text = value.strip()
    if not text.isascii() or not text.isdigit():
        raise _UsageError(f"--min-witnesses must be a whole number, 0 or more; got {value!r}")
    minimum = int(text)
    witnesses = len({key.name for key in witness_keys})
    if minimum > witnesses:
        raise _UsageError(
            f"--min-witnesses {minimum} can never be met: {witnesses} distinct witness(es) given with --witness-key"
        )
    return minimum


def _sizes(sizes: Sequence[int]) -> str:
    if len(sizes) <= 6:
        return ", ".join(map(str, sizes))
    return f"{sizes[0]}, {sizes[1]}, {sizes[2]}, …, {sizes[-2]}, {sizes[-1]}"


def _describe(report: PackReport) -> str:
    if report.entry_count:
        span = f"{report.entry_count} entries (index {report.first_index} to {report.last_index})"
    else:
        span = "no entries"
    lines = [
        "docket-verify: OK",
        f"  pack        {report.kind} pack of log {report.origin}: {span}",
        f"  checkpoints {len(report.checkpoint_sizes)} verified (tree sizes {_sizes(report.checkpoint_sizes)})",
        f"  signed by   {', '.join(report.signed_by)}",
    ]
    if report.root_recomputed:
        lines.append("  tree        the root of every checkpoint was recomputed from the entries")
    else:
        lines.append("  tree        every entry has a valid inclusion proof in a verified checkpoint")
    lines.append(
        "  encoding    "
        + (
            "every entry is canonical format-1 JSON"
            if report.encoding_checked
            else "index and version of every entry checked (add --check-encoding for full JSON checks)"
        )
    )
    if report.kept_checkpoint_sizes:
        lines.append(
            f"  kept        consistent with your checkpoint(s) of size {', '.join(map(str, report.kept_checkpoint_sizes))}"
        )
    if report.min_witnesses is not None:
        newest = max(report.checkpoint_sizes)
        if report.witnessed_by:
            cosigners = ", ".join(f"{name} ({format_cosignature_time(at)})" for name, at in report.witnessed_by)
            lines.append(f"  witnessed   checkpoint {newest} cosigned by {cosigners}")
        else:
            lines.append(f"  witnessed   checkpoint {newest} carries no cosignature from a --witness-key witness")
        lines.append(
            f"              {len(report.witnessed_by)} witness(es) verified, at least {report.min_witnesses} required; "
            "every cosignature by a trusted witness in the pack verified"
        )
        lines.append(
            "  note        only the keys given with --key and --witness-key were trusted; "
            "the keys inside the pack were not used"
        )
    else:
        lines.append(
            "  note        only the keys given with --key were trusted; the keys inside the pack were not used"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """`docket-verify PACK --key VKEY [--witness-key VKEY ...] [...]`: exit 0 verified, 1 verification
    failed, 2 usage or I/O error."""

    parser = argparse.ArgumentParser(
        prog="docket-verify",
        description="Verify a Docket audit-log evidence pack offline against pinned verifier keys.",
    )
    parser.add_argument("pack", help="evidence pack: .tar.gz, .tar or an extracted directory")
    parser.add_argument(
        "--key",
        action="append",
        required=True,
        metavar="VKEY_OR_FILE",
        help="trusted verifier key (<name>+<id>+<key>) or a file of them, one per line; repeat for older keys",
    )
    parser.add_argument(
        "--previous-checkpoint",
        action="append",
        default=[],
        metavar="FILE",
        help="a signed checkpoint you kept earlier; the pack must be consistent with it",
    )
    parser.add_argument(
        "--consistency-proof",
        action="append",
        default=[],
        metavar="FILE",
        help="a consistency proof (from the Docket API) connecting a kept checkpoint to the pack",
    )
    parser.add_argument(
        "--check-encoding",
        action="store_true",
        help="also parse every entry of a full pack and check its canonical encoding (slower)",
    )
    parser.add_argument(
        "--witness-key",
        action="append",
        default=[],
        metavar="VKEY_OR_FILE",
        help="trusted witness cosignature key (<name>+<id>+<base64(0x04 || key)>) or a file of them; repeatable",
    )
    parser.add_argument(
        "--min-witnesses",
        default=None,
        metavar="N",
        help="the pack's newest checkpoint must carry valid cosignatures from at least N distinct trusted "
        "witnesses (default: 1 with --witness-key, else 0)",
    )
    args = parser.parse_args(argv)
    try:
        keys = _load_keys(args.key)
        witness_keys = _load_keys(args.witness_key, parse=parse_witness_vkey, what="witness key")
        min_witnesses = _min_witnesses(args.min_witnesses, witness_keys)
        kept = [_read_text(path, "checkpoint") for path in args.previous_checkpoint]
        proofs = []
        for path in args.consistency_proof:
            try:
                proofs.append(parse_consistency_proof(_read_text(path, "consistency proof")))
            except VerificationError as exc:
                raise _UsageError(f"bad consistency proof {path}: {exc}") from exc
        report = verify_pack(
            args.pack,
            keys=keys,
            kept_checkpoints=kept,
            consistency_proofs=proofs,
            check_encoding=args.check_encoding,
            witness_keys=witness_keys,
            min_witnesses=min_witnesses,
        )
    except (_UsageError, PackUnreadable) as exc:
        print(f"docket-verify: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"docket-verify: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except VerificationError as exc:
        where = f"entry {exc.index}" if exc.index is not None else "pack"
        print(f"docket-verify: FAILED at {where}: {exc.reason}")
        return EXIT_FAILED
    print(_describe(report))
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
