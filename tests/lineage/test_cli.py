"""`docket lineage ...` against a live server: the answers, the exit codes, the inquiry and its PDF."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.utils import timezone

from apps.accounts.scopes import Scope
from apps.audit.services import SYSTEM
from apps.lineage.models import Inquiry
from apps.registry import services as registry
from docket import cli

from .conftest import register_dataset_version


@pytest.fixture
def configured(live_server, monkeypatch, tmp_path, make_key, team, model, register_version):
    train = register_dataset_version(key="loans", team=team)
    version = register_version(model, train=[train])
    deployment = registry.deployment_record(actor=SYSTEM, model_version=version, environment="production")
    _, plaintext = make_key(scopes=[Scope.READ])
    monkeypatch.setenv("DOCKET_URL", live_server.url)
    monkeypatch.setenv("DOCKET_API_KEY", plaintext)
    monkeypatch.setenv("DOCKET_CONFIG", str(tmp_path / "config.json"))
    return deployment


def run(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.django_db(transaction=True)
def test_upstream_prints_the_tree_and_exits_0(configured, capsys):
    code, out, _ = run(capsys, "lineage", "upstream", "--deployment", str(configured.pk), "--depth", "4")
    assert code == 0
    assert "1. model_version" in out and "2. dataset_version" in out and "loans v1" in out
    assert "hidden nodes: none" in out


@pytest.mark.django_db(transaction=True)
def test_window_and_behind_as_json(configured, capsys):
    now = timezone.now()
    code, out, _ = run(capsys, "--json", "lineage", "window", "--dataset", "loans", "--environment", "production",
                       "--start", now.replace(year=now.year - 1).isoformat(), "--end", now.isoformat())
    assert code == 0 and [d["deployment"] for d in json.loads(out)["deployments"]] == [configured.pk]
    code, out, _ = run(capsys, "lineage", "behind", "credit-scoring", "--at", now.isoformat())
    assert code == 0 and "dataset loans v1: legal basis GDPR Art. 6(1)(b)" in out


@pytest.mark.django_db(transaction=True)
def test_refusals_exit_1_and_usage_errors_exit_2(configured, capsys):
    code, _, err = run(capsys, "lineage", "upstream", "--deployment", str(configured.pk), "--depth", "11")
    assert code == 1 and "validation-failed" in err and "depth" in err
    code, _, err = run(capsys, "lineage", "upstream", "--deployment", "999999")
    assert code == 1 and "not-found" in err
    code, _, err = run(capsys, "lineage", "upstream")
    assert code == 2 and "exactly one start" in err
    code, _, _ = run(capsys, "lineage", "window", "--dataset", "loans")  # missing required options
    assert code == 2


@pytest.mark.django_db(transaction=True)
def test_inquiry_save_with_pdf(configured, capsys, tmp_path):
    pdf = tmp_path / "inquiry.pdf"
    code, out, err = run(capsys, "lineage", "inquiry", "save", "--kind", "downstream", "--param", "dataset=loans",
                         "--requester", "DPA case 17", "--reason", "erasure request", "--pdf", str(pdf))
    assert code == 0, err
    inquiry = Inquiry.objects.get()
    assert f"inquiry {inquiry.pk} saved" in out and inquiry.requester == "DPA case 17"
    assert hashlib.sha256(pdf.read_bytes()).hexdigest() == inquiry.pdf_sha256
