"""The API key format: `dkt_<prefix>_<secret>`, its generation and its stored hash.

The prefix (8 characters of [a-z0-9]) is stored in clear and identifies the key in lists and logs.
The secret is 32 bytes from `secrets`, URL-safe base64 (43 characters). Only the SHA-256 of the whole
key is stored. A slow password hash (PBKDF2, Argon2) would add nothing: it protects guessable
secrets, and 256 random bits cannot be guessed; it would only cost CPU on every API request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass

KEY_TAG = "dkt"
PREFIX_LENGTH = 8
SECRET_BYTES = 32
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
_KEY_PATTERN = re.compile(rf"^{KEY_TAG}_(?P<prefix>[a-z0-9]{{{PREFIX_LENGTH}}})_(?P<secret>[A-Za-z0-9_-]{{43,128}})$")


@dataclass(frozen=True)
class GeneratedKey:
    plaintext: str
    prefix: str
    secret_hash: str


def hash_key(plaintext: str) -> str:
    """Hex SHA-256 of the whole key, as stored in ApiKey.secret_hash."""
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def generate_key() -> GeneratedKey:
    """A fresh key with a random prefix. The caller must ensure the prefix is not taken yet."""
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
    plaintext = f"{KEY_TAG}_{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"
    return GeneratedKey(plaintext=plaintext, prefix=prefix, secret_hash=hash_key(plaintext))


def parse_prefix(plaintext: str) -> str | None:
    """The prefix of a well-formed key, or None when the text is not a Docket API key."""
    match = _KEY_PATTERN.match(plaintext)
    return match.group("prefix") if match else None


def key_matches(plaintext: str, secret_hash: str) -> bool:
    """Compares the key's hash with the stored one in constant time."""
    return hmac.compare_digest(hash_key(plaintext).encode("ascii"), secret_hash.encode("ascii"))
