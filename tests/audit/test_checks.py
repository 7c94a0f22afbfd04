"""The audit log's system checks (apps/audit/checks.py)."""

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from apps.audit.checks import witness_keys_check
from apps.audit.signing import generate_signer
from apps.audit.verifier import COSIGNATURE_V1_TYPE, format_vkey

WITNESS_URL = "https://witness.example/w1"


def witness_vkey(name: str = "witness.example/w1") -> str:
    public_key = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return format_vkey(name, public_key, COSIGNATURE_V1_TYPE)


def test_witness_urls_with_their_keys_pass(settings):
    settings.DOCKET_AUDIT_WITNESS_URLS = [WITNESS_URL]
    settings.DOCKET_AUDIT_WITNESS_KEYS = [witness_vkey(), witness_vkey("witness.example/w2")]
    assert witness_keys_check() == []


def test_no_witnesses_at_all_pass(settings):
    settings.DOCKET_AUDIT_WITNESS_URLS = []
    settings.DOCKET_AUDIT_WITNESS_KEYS = []
    assert witness_keys_check() == []


def test_witness_urls_without_witness_keys_are_an_error(settings):
    settings.DOCKET_AUDIT_WITNESS_URLS = [WITNESS_URL]
    settings.DOCKET_AUDIT_WITNESS_KEYS = []
    [error] = witness_keys_check()
    assert error.id == "audit.E001" and error.is_serious()
    assert "DOCKET_AUDIT_WITNESS_URLS is set but DOCKET_AUDIT_WITNESS_KEYS is empty" in error.msg


@pytest.mark.parametrize(
    ("bad_key", "reason"),
    [
        ("not a key", "has the form <name>+<hex key id>+<base64 key>"),
        ("witness.example/w1+00000000+" + base64.b64encode(b"\x04" + bytes(32)).decode(), "key ID does not match"),
        (generate_signer("docket.example/audit").vkey, "is an Ed25519 note-signing key (type 0x01)"),
        ("witness.example/w1+0a0b0c0d+%%%", "not valid base64"),
    ],
    ids=["garbage", "wrong-key-id", "log-key-type-0x01", "bad-base64"],
)
def test_a_witness_key_that_does_not_parse_is_an_error_naming_it(settings, bad_key, reason):
    """Tried (see ids): text that is no key, a key ID that does not match the key, a log key (type
    0x01) instead of a witness key (0x04), and key material that is not base64."""
    settings.DOCKET_AUDIT_WITNESS_URLS = [WITNESS_URL]
    settings.DOCKET_AUDIT_WITNESS_KEYS = [witness_vkey(), bad_key]
    [error] = witness_keys_check()
    assert error.id == "audit.E002"
    assert error.msg.startswith(f"DOCKET_AUDIT_WITNESS_KEYS: key 2 ({bad_key!r}) does not parse:") and reason in error.msg


def test_the_check_is_registered_and_stops_manage_py_check(settings):
    settings.DOCKET_AUDIT_WITNESS_URLS = [WITNESS_URL]
    settings.DOCKET_AUDIT_WITNESS_KEYS = []
    with pytest.raises(SystemCheckError, match="audit.E001"):
        call_command("check")
