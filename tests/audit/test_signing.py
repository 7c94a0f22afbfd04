import json
import stat
from pathlib import Path

import pytest

from apps.audit import signing
from apps.audit.verifier import open_note, parse_vkey

VECTORS = json.loads(Path("/work/shared/vectors/signed-note.json").read_text())


def test_signing_the_go_example_text_reproduces_the_note_byte_for_byte():
    example = VECTORS["ed25519_go_example"]
    signer = signing.parse_signer_key(example["signer_key"])
    assert signer.vkey == example["verifier_key"]
    assert signing.sign_note(example["text"], signer) == example["signed_note"]


def test_a_signed_note_opens_with_its_verifier_key():
    signer = signing.generate_signer("docket.test/log")
    note = signing.sign_note("docket.test/log\n3\n" + "A" * 43 + "=\n", signer)
    text, keys = open_note(note, [parse_vkey(signer.vkey)])
    assert text.startswith("docket.test/log\n3\n") and keys == [signer.verifier_key]


def test_signer_key_text_round_trips():
    signer = signing.generate_signer("docket.test/log")
    again = signing.parse_signer_key(signer.signer_key_text())
    assert (again.name, again.key_id, again.public_key) == (signer.name, signer.key_id, signer.public_key)


@pytest.mark.parametrize(
    "text",
    [
        "PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",  # no PRIVATE+KEY+ prefix
        "PRIVATE+KEY+PeterNeumann+c74f20a4+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",  # wrong key id
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AoEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",  # wrong type byte
        "PRIVATE+KEY+PeterNeumann+c74f20a3+not-base64!",
    ],
    ids=["missing-prefix", "key-id-mismatch", "unknown-algorithm", "bad-base64"],
)
def test_malformed_signer_keys_are_refused(text):
    with pytest.raises(signing.SigningKeyError):
        signing.parse_signer_key(text)


@pytest.mark.parametrize("text", ["", "no newline", "two\n\nparagraphs\n"], ids=["empty", "no-final-newline", "blank-line"])
def test_sign_note_refuses_text_that_is_not_a_note(text):
    with pytest.raises(signing.SigningKeyError):
        signing.sign_note(text, signing.generate_signer("docket.test/log"))


def test_key_file_is_owner_only_and_never_overwritten(tmp_path):
    path = tmp_path / "keys" / "audit.key"
    signer = signing.generate_signer("docket.test/log")
    signing.write_signer_key_file(path, signer)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(signing.SigningKeyError, match="refusing to overwrite"):
        signing.write_signer_key_file(path, signing.generate_signer("docket.test/log"))
    assert signing.parse_signer_key(path.read_text()).key_id == signer.key_id


def test_load_signer_autocreates_a_key_only_when_allowed(settings, tmp_path):
    settings.DOCKET_AUDIT_SIGNING_KEY = None
    settings.DOCKET_AUDIT_SIGNING_KEY_FILE = str(tmp_path / "audit.key")
    settings.DOCKET_AUDIT_AUTOCREATE_KEY = False
    with pytest.raises(signing.SigningKeyError, match="init-key"):
        signing.load_signer()
    assert not (tmp_path / "audit.key").exists()
    settings.DOCKET_AUDIT_AUTOCREATE_KEY = True
    created = signing.load_signer()
    assert created.name == settings.DOCKET_AUDIT_ORIGIN
    assert signing.load_signer().key_id == created.key_id


def test_load_signer_prefers_the_environment_key(settings, tmp_path):
    signer = signing.generate_signer("docket.test/env")
    settings.DOCKET_AUDIT_SIGNING_KEY = signer.signer_key_text()
    settings.DOCKET_AUDIT_SIGNING_KEY_FILE = str(tmp_path / "absent.key")
    assert signing.load_signer().key_id == signer.key_id
    assert not (tmp_path / "absent.key").exists()
