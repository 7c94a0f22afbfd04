"""`docket gate check` and `docket gate verify-attestation` against a live Docket server: exit 0 on allow,
1 on deny (reasons printed), 2 on usage and connection errors; the saved attestation verifies, and fails
once changed."""

from __future__ import annotations

import json

import pytest

from apps.audit.actions import Action
from apps.audit.models import AuditEntry
from docket import cli
from tests.gate.conftest import (  # noqa: F401 - fixtures shared with the gate's own tests
    _gate_key,
    approve,
    approver,
    model,
    pipeline,
    policy,
    review,
    submitter,
    team,
    use_case,
    version,
)


@pytest.fixture
def configured(live_server, pipeline, monkeypatch, tmp_path):  # noqa: F811
    monkeypatch.setenv("DOCKET_URL", live_server.url)
    monkeypatch.setenv("DOCKET_API_KEY", pipeline[2])
    monkeypatch.setenv("DOCKET_CONFIG", str(tmp_path / "config.json"))
    for variable in cli.CI_CONTEXT_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("GITHUB_RUN_ID", "4242")
    return live_server


def run(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def artifact(tmp_path, version):  # noqa: F811
    """The registered artifact's bytes as the pipeline has them on disk."""
    path = tmp_path / "model.skops"
    with version.artifact.open("rb") as stored:
        path.write_bytes(stored.read())
    return path


def test_allow_exits_0_and_the_saved_attestation_verifies(configured, version, approve, artifact, tmp_path,  # noqa: F811
                                                          capsys):
    approve(version, "production")
    out_file = tmp_path / "attestation.json"

    code, out, err = run(capsys, "gate", "check", "--model", "credit-scoring/default-lr", "--version", "1",
                         "--artifact", str(artifact), "--env", "production", "--attestation-out", str(out_file),
                         "--context", "pipeline=deploy-prod")

    assert code == 0, err
    assert out.startswith("ALLOW: credit-scoring/default-lr@1")
    assert "approval_valid" in out and "Human review of every decline." in out
    entry = AuditEntry.objects.filter(action=Action.GATE_DECISION_RECORDED).get()
    assert entry.data["context"] == {"run_id": "4242", "pipeline": "deploy-prod"}

    code, out, err = run(capsys, "gate", "verify-attestation", str(out_file), "--artifact", str(artifact))
    assert code == 0, err
    assert "OK: the attestation verifies" in out and "decision     allow" in out

    envelope = json.loads(out_file.read_text())
    envelope["payloadType"] = envelope["payloadType"].upper()
    out_file.write_text(json.dumps(envelope))
    code, out, _ = run(capsys, "gate", "verify-attestation", str(out_file))
    assert code == 1 and out.startswith("FAILED")


def test_deny_exits_1_and_prints_the_reasons_and_rollback_to(configured, model, approve, capsys):  # noqa: F811
    from tests.factories.registry import ModelVersionFactory

    approve(ModelVersionFactory(model=model, number=1), "production")
    denied = ModelVersionFactory(model=model, number=2)

    code, out, _ = run(capsys, "gate", "check", "--model", "credit-scoring/default-lr@2", "--artifact",
                       denied.artifact_sha256, "--env", "production")

    assert code == 1
    assert out.startswith("DENY")
    assert "no_approval:" in out and "rollback_to: version 1" in out


def test_json_output_carries_the_decision(configured, version, capsys):  # noqa: F811
    code, out, _ = run(capsys, "--json", "gate", "check", "--model", "credit-scoring/default-lr", "--version", "1",
                       "--artifact", "sha256:" + "0" * 64, "--env", "staging")

    assert code == 1
    decision = json.loads(out)
    assert decision["decision"] == "deny" and decision["reasons"][0]["code"] == "artifact_mismatch"


@pytest.mark.parametrize("argv", [
    ["gate", "check", "--model", "credit-scoring/default-lr", "--version", "1", "--artifact", "not-a-hash",
     "--env", "production"],
    ["gate", "check", "--model", "credit-scoring/default-lr", "--artifact", "0" * 64, "--env", "production"],
    ["gate", "check", "--model", "credit-scoring", "--version", "1", "--artifact", "0" * 64, "--env", "production"],
    ["gate", "check", "--model", "credit-scoring/default-lr", "--version", "1", "--artifact", "0" * 64,
     "--env", "moon"],
    ["gate", "check"],
])
def test_usage_errors_exit_2(configured, version, capsys, argv):  # noqa: F811
    code, _, err = run(capsys, *argv)

    assert code == 2
    assert err


def test_a_key_without_gate_check_exits_2(configured, team, monkeypatch, capsys):  # noqa: F811
    from apps.accounts.scopes import Scope
    from tests.factories.accounts import api_key_with_plaintext

    _, plaintext = api_key_with_plaintext(service_account__team=team, service_account__scopes=[Scope.READ])
    monkeypatch.setenv("DOCKET_API_KEY", plaintext)

    code, _, err = run(capsys, "gate", "check", "--model", "credit-scoring/default-lr", "--version", "1",
                       "--artifact", "0" * 64, "--env", "production")

    assert code == 2 and "gate:check" in err


def test_a_connection_error_exits_2(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("DOCKET_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("DOCKET_API_KEY", "dkt_x_y")
    monkeypatch.setenv("DOCKET_CONFIG", str(tmp_path / "config.json"))

    code, _, err = run(capsys, "gate", "check", "--model", "a/b", "--version", "1", "--artifact", "0" * 64,
                       "--env", "production")

    assert code == 2 and "Cannot reach Docket" in err
