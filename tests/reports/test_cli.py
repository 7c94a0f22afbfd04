"""`docket report` against a live Docket server: ask for a document, wait while it is generated, download
it with its SHA-256 checked; refusals exit 1, usage errors 2."""

from __future__ import annotations

import hashlib

import pytest

from apps.accounts.scopes import Scope
from apps.reports import services
from docket import cli
from tests.factories.accounts import api_key_with_plaintext


@pytest.fixture
def configured(transactional_db, live_server, monkeypatch, tmp_path, team):
    """The team's read-only pipeline key configured through the environment; documents are built when
    the request commits (standing in for the Celery worker). Transactional tests flush the database
    between tests, taking the data migration's role groups: they are created again first."""
    from django.contrib.auth.models import Group

    from apps.accounts.roles import Role

    for role in Role.values:
        Group.objects.get_or_create(name=role)
    _, plaintext = api_key_with_plaintext(service_account__name="reporting", service_account__team=team,
                                          service_account__scopes=[Scope.READ])
    monkeypatch.setenv("DOCKET_URL", live_server.url)
    monkeypatch.setenv("DOCKET_API_KEY", plaintext)
    monkeypatch.setenv("DOCKET_CONFIG", str(tmp_path / "config.json"))
    monkeypatch.setattr(services, "_queue_build", lambda document_id: services.report_build(document_id=document_id))


def run(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_generate_waits_downloads_and_checks_the_sha256(configured, complete_system, capsys, tmp_path):
    version, _ = complete_system
    out_file = tmp_path / "annex-iv.pdf"
    code, out, err = run(capsys, "report", "generate", "--kind", "annex_iv", "--model",
                         f"credit-scoring/{version.model.key}@1", "--out", str(out_file), "--interval", "0.1")
    assert code == 0, (out, err)
    assert "done" in out and "written to" in out and "SHA-256 checked" in out
    data = out_file.read_bytes()
    assert data.startswith(b"%PDF-") and hashlib.sha256(data).hexdigest() in out
    document_id = out.split("document ", 1)[1].split(":", 1)[0]
    code, out, _ = run(capsys, "report", "status", document_id)
    assert code == 0 and "reflects audit entries" in out
    code, out, _ = run(capsys, "report", "list")
    assert code == 0 and "annex_iv" in out


def test_unknown_model_exits_1_and_bad_arguments_exit_2(configured, complete_system, capsys):
    code, _, err = run(capsys, "report", "generate", "--kind", "annex_iv", "--model", "credit-scoring/nothing@1")
    assert code == 1 and "404" in err
    code, _, err = run(capsys, "report", "generate", "--kind", "horoscope")
    assert code == 2
    code, _, err = run(capsys, "report", "generate", "--kind", "annex_iv", "--model", "credit-scoring/x")
    assert code == 2 and "@N" in err
