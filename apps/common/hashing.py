"""Streaming SHA-256 of uploaded or stored files."""

import hashlib
import re

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
CHUNK_SIZE = 1024 * 1024


def sha256_of_file(file) -> tuple[str, int]:
    """Returns (hex digest, size in bytes) of a Django File or binary file object, reading it in chunks."""
    digest = hashlib.sha256()
    size = 0
    if hasattr(file, "seek"):
        file.seek(0)
    chunks = file.chunks(CHUNK_SIZE) if hasattr(file, "chunks") else iter(lambda: file.read(CHUNK_SIZE), b"")
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    if hasattr(file, "seek"):
        file.seek(0)
    return digest.hexdigest(), size


def normalise_sha256(value: str | None) -> str | None:
    """Lower-cases a declared hex SHA-256; returns None if it is absent or not 64 hex digits."""
    if value is None:
        return None
    candidate = value.strip().lower()
    if candidate.startswith("sha256:"):
        candidate = candidate[len("sha256:"):]
    return candidate if SHA256_HEX.match(candidate) else None
