"""The gate's attestation signing key: a separate Ed25519 key from the audit log's checkpoint key, in
the same Go `sumdb/note` signer format and handled the same way (file or environment, never the
database; generated on first use only where DOCKET_AUDIT_AUTOCREATE_KEY allows, i.e. demo and tests).

A separate key keeps the two signature domains apart (a checkpoint key signs only checkpoints) and
lets the attestation key live on the web tier while the checkpoint key can stay with the signer.
"""

from __future__ import annotations

import threading
from pathlib import Path

from django.conf import settings

from apps.audit.signing import (
    Signer,
    SigningKeyError,
    generate_signer,
    parse_signer_key,
    write_signer_key_file,
)

_lock = threading.Lock()
_cache: dict[tuple, Signer] = {}


def attestation_signer() -> Signer:
    """The configured attestation signer, read once per process (and again when the settings change)."""
    source = (settings.DOCKET_GATE_SIGNING_KEY, settings.DOCKET_GATE_SIGNING_KEY_FILE, settings.DOCKET_GATE_KEY_NAME)
    signer = _cache.get(source)
    if signer is not None:
        return signer
    with _lock:
        signer = _cache.get(source) or _load()
        _cache.clear()
        _cache[source] = signer
    return signer


def _load() -> Signer:
    if settings.DOCKET_GATE_SIGNING_KEY:
        return parse_signer_key(settings.DOCKET_GATE_SIGNING_KEY)
    path = Path(settings.DOCKET_GATE_SIGNING_KEY_FILE)
    if not path.exists():
        if not getattr(settings, "DOCKET_AUDIT_AUTOCREATE_KEY", False):
            raise SigningKeyError(
                f"No gate attestation key: set DOCKET_GATE_SIGNING_KEY or create {path} with "
                f"`manage.py audit init-key --key-file {path} --name {settings.DOCKET_GATE_KEY_NAME}`."
            )
        try:
            write_signer_key_file(path, generate_signer(settings.DOCKET_GATE_KEY_NAME))
        except SigningKeyError:
            pass  # another process created it first; read theirs
    return parse_signer_key(path.read_text(encoding="ascii"))
