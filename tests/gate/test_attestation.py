"""apps/gate/attestation.py: DSSE PAE, signing, and verification that fails when any byte changes."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from apps.audit.signing import generate_signer
from apps.gate import attestation
from apps.gate.attestation import AttestationError, verify_attestation

SHA = "5b" * 32


@pytest.fixture
def signer():
    return generate_signer("docket.test/gate")


@pytest.fixture
def envelope(signer) -> dict:
    statement = attestation.statement(
        subject_name="credit-scoring/default-lr@3", artifact_sha256=SHA,
        predicate={"decision": "allow", "reasons": [{"code": "approval_valid", "detail": "Approved – bis 2027"}],
                   "audit_index": 41, "environment": "production"},
    )
    return attestation.sign_envelope(statement, private_key=signer.private_key, key_id=signer.key_id)


def test_pae_matches_the_dsse_specification_vector():
    assert attestation.pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world")


def test_pae_counts_bytes_not_characters():
    assert attestation.pae("t", "é".encode()) == b"DSSEv1 1 t 2 \xc3\xa9"


def test_a_signed_statement_verifies_and_is_an_in_toto_statement_v1(envelope, signer):
    statement = verify_attestation(envelope, [signer.vkey], artifact_sha256=SHA)

    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["subject"] == [{"name": "credit-scoring/default-lr@3", "digest": {"sha256": SHA}}]
    assert statement["predicateType"] == attestation.PREDICATE_TYPE
    assert statement["predicate"]["audit_index"] == 41
    assert envelope["signatures"][0]["keyid"] == signer.key_id.hex()


def test_the_signature_is_over_the_pae_of_the_payload(envelope, signer):
    body = base64.b64decode(envelope["payload"])
    signature = base64.b64decode(envelope["signatures"][0]["sig"])

    signer.private_key.public_key().verify(signature, attestation.pae(attestation.PAYLOAD_TYPE, body))


def test_changing_any_byte_of_the_envelope_fails_verification(envelope, signer):
    data = attestation.canonical_json(envelope)
    verify_attestation(data, [signer.vkey])
    survivors = []
    for position in range(len(data)):
        changed = bytearray(data)
        changed[position] ^= 0x01
        try:
            verify_attestation(bytes(changed), [signer.vkey])
        except AttestationError:
            continue
        except UnicodeDecodeError:
            continue
        survivors.append(position)
    assert survivors == []


def test_changing_any_byte_of_the_signed_statement_fails_verification(envelope, signer):
    body = base64.b64decode(envelope["payload"])
    for position in range(len(body)):
        changed = bytearray(body)
        changed[position] ^= 0x80
        tampered = {**envelope, "payload": base64.b64encode(bytes(changed)).decode()}
        with pytest.raises(AttestationError):
            verify_attestation(tampered, [signer.vkey])


def test_another_key_does_not_verify(envelope):
    stranger = generate_signer("docket.test/gate")

    with pytest.raises(AttestationError, match="no signature verifies"):
        verify_attestation(envelope, [stranger.vkey])


def test_a_statement_about_another_artifact_is_refused(envelope, signer):
    with pytest.raises(AttestationError, match="not sha256:"):
        verify_attestation(envelope, [signer.vkey], artifact_sha256="00" * 32)


def test_a_signed_envelope_of_another_payload_type_is_refused(signer):
    body = attestation.canonical_json({"_type": attestation.STATEMENT_TYPE})
    sig = signer.private_key.sign(attestation.pae("application/json", body))
    envelope = {"payload": base64.b64encode(body).decode(), "payloadType": "application/json",
                "signatures": [{"keyid": signer.key_id.hex(), "sig": base64.b64encode(sig).decode()}]}

    with pytest.raises(AttestationError, match="payloadType"):
        verify_attestation(envelope, [signer.vkey])


def test_url_safe_base64_is_accepted_as_dsse_requires(envelope, signer):
    url_safe = {
        "payload": base64.urlsafe_b64encode(base64.b64decode(envelope["payload"])).decode(),
        "payloadType": envelope["payloadType"],
        "signatures": [{"keyid": envelope["signatures"][0]["keyid"],
                        "sig": base64.urlsafe_b64encode(base64.b64decode(envelope["signatures"][0]["sig"])).decode()}],
    }

    assert verify_attestation(url_safe, [signer.vkey])["predicate"]["decision"] == "allow"


@pytest.mark.parametrize("vkey", ["", "name+zz+abc", "name+00000000+" + base64.b64encode(b"\x01" + b"k" * 32).decode()])
def test_malformed_verifier_keys_are_refused(envelope, vkey):
    with pytest.raises(AttestationError):
        verify_attestation(envelope, [vkey])


def test_the_offline_command_exits_0_on_success_and_1_on_a_changed_file(envelope, signer, tmp_path, capsys):
    path = tmp_path / "attestation.json"
    path.write_text(json.dumps(envelope, indent=2))
    assert attestation.main(["verify", str(path), "--key", signer.vkey, "--artifact-sha256", SHA]) == 0
    assert "decision     allow" in capsys.readouterr().out

    path.write_text(json.dumps({**envelope, "payloadType": "application/vnd.in-toto+jsoN"}))
    assert attestation.main(["verify", str(path), "--key", signer.vkey]) == 1
    assert attestation.main(["verify", str(tmp_path / "missing.json"), "--key", signer.vkey]) == 2


def test_the_module_imports_only_the_standard_library_and_cryptography():
    import ast
    import sys
    from pathlib import Path

    tree = ast.parse(Path(attestation.__file__).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported - set(sys.stdlib_module_names) == {"cryptography"}


def test_signing_with_a_fresh_key_object_matches_the_vkey():
    key = Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes_raw()
    vkey = attestation.format_vkey("k", raw)

    assert attestation.parse_vkey(vkey).public_key == raw
