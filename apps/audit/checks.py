"""System checks (`manage.py check`, run before every management command and server start) for the
audit log's settings."""

from __future__ import annotations

from django.conf import settings
from django.core import checks

from .verifier import VerificationError, parse_witness_vkey


@checks.register()
def witness_keys_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Witness URLs need witness keys (Docket stores only cosignatures it can verify), and every
    configured witness key must be a C2SP cosignature/v1 verifier key."""
    errors: list[checks.CheckMessage] = []
    keys = settings.DOCKET_AUDIT_WITNESS_KEYS
    for position, text in enumerate(keys, start=1):
        try:
            parse_witness_vkey(text)
        except VerificationError as exc:
            errors.append(checks.Error(
                f"DOCKET_AUDIT_WITNESS_KEYS: key {position} ({text!r}) does not parse: {exc}",
                hint="Give each witness's cosignature/v1 verifier key, <name>+<hex key id>+<base64(0x04 || "
                     "32-byte Ed25519 public key)>, as the witness operator publishes it; separate keys with commas.",
                id="audit.E002",
            ))
    if settings.DOCKET_AUDIT_WITNESS_URLS and not keys:
        errors.append(checks.Error(
            "DOCKET_AUDIT_WITNESS_URLS is set but DOCKET_AUDIT_WITNESS_KEYS is empty: no witness cosignature "
            "could be verified, so none would be stored.",
            hint="Set DOCKET_AUDIT_WITNESS_KEYS to the verifier keys of the witnesses at those URLs, or unset "
                 "DOCKET_AUDIT_WITNESS_URLS.",
            id="audit.E001",
        ))
    return errors
