"""The `docket` CLI against a live Docket server: a training pipeline registers two dataset versions and a
model version from a real skops file, lists them and fetches them back; refusals exit 1, usage and
connection problems exit 2."""

from __future__ import annotations

import hashlib
import json
import os
import stat

import numpy as np
import pytest

from apps.accounts.scopes import Scope
from apps.audit.actions import Action
from apps.audit.models import AuditEntry
from apps.registry.models import DatasetVersion, ModelVersion
from docket import cli
from tests.factories.accounts import TeamFactory, UserFactory, api_key_with_plaintext
from tests.factories.registry import UseCaseFactory


@pytest.fixture
def pipeline(live_server, monkeypatch, tmp_path):
    """A team, its use case, and its training pipeline's API key, configured through the environment."""
    team = TeamFactory(key="credit-risk")
    UseCaseFactory(key="credit-scoring", owner_team=team)
    api_key, plaintext = api_key_with_plaintext(
        service_account__name="training-pipeline", service_account__team=team,
        service_account__scopes=[Scope.READ, Scope.REGISTRY_WRITE],
    )
    monkeypatch.setenv("DOCKET_URL", live_server.url)
    monkeypatch.setenv("DOCKET_API_KEY", plaintext)
    monkeypatch.setenv("DOCKET_CONFIG", str(tmp_path / "config.json"))
    return api_key


def run(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_json(capsys, *argv):
    code, out, err = run(capsys, "--json", *argv)
    assert code == 0, err or out
    return json.loads(out)


@pytest.fixture
def training_files(tmp_path):
    """Two CSV splits and a skops file of a model fitted on the first, as a training script writes them."""
    import skops.io
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    paths = {}
    for split, rows in (("train", 80), ("test", 40)):
        features = rng.normal(size=(rows, 2))
        labels = (features[:, 0] > 0).astype(int)
        path = tmp_path / f"{split}.csv"
        path.write_text("x0,x1,label\n" + "".join(f"{a:.4f},{b:.4f},{y}\n" for (a, b), y in zip(features, labels)))
        paths[split] = path
    data = np.loadtxt(paths["train"], delimiter=",", skiprows=1)
    model = LogisticRegression().fit(data[:, :2], data[:, 2].astype(int))
    paths["model"] = tmp_path / "model.skops"
    skops.io.dump(model, paths["model"])
    return paths


def test_a_pipeline_registers_data_and_a_model_lists_them_and_fetches_them_back(pipeline, training_files, capsys):
    assert run_json(capsys, "whoami")["service_account"] == "training-pipeline"
    run_json(capsys, "dataset", "create", "loans", "--name", "Loan applications", "--team", "credit-risk")
    first = run_json(capsys, "dataset", "register", "loans", "--file", str(training_files["train"]),
                     "--datasheet", "motivation=Credit decisions.")
    second = run_json(capsys, "dataset", "register", "loans", "--file", str(training_files["test"]))
    assert (first["number"], first["row_count"], second["number"], second["row_count"]) == (1, 80, 2, 40)
    assert second["content_sha256"] == hashlib.sha256(training_files["test"].read_bytes()).hexdigest()

    run_json(capsys, "model", "create", "credit-scoring/default-lr", "--name", "Default logistic regression")
    version = run_json(
        capsys, "model", "register", "--model", "credit-scoring/default-lr",
        "--artifact", str(training_files["model"]), "--framework", "scikit-learn", "--framework-version", "1.5",
        "--intended-use", "Scoring consumer loan applications, reviewed by a credit officer.",
        "--dataset", "train=loans@1", "--dataset", "test=loans@2", "--metric", "auc=0.91@test",
        "--hyperparameters", '{"C": 1.0}',
    )
    artifact_sha256 = hashlib.sha256(training_files["model"].read_bytes()).hexdigest()
    assert (version["number"], version["artifact_format"], version["artifact_sha256"]) == (1, "skops",
                                                                                          artifact_sha256)
    assert version["claimed_metrics"][0]["dataset"] == "loans" and version["claimed_metrics"][0]["version"] == 2

    listed_versions = run_json(capsys, "dataset", "versions", "loans")
    assert [v["number"] for v in listed_versions] == [1, 2]
    listed_models = run_json(capsys, "model", "versions", "credit-scoring/default-lr")
    assert [(v["model"], v["number"]) for v in listed_models] == [("default-lr", 1)]
    assert run_json(capsys, "model", "versions", "--sha256", artifact_sha256)[0]["number"] == 1
    fetched = run_json(capsys, "model", "get", "credit-scoring/default-lr@1")
    assert fetched == version
    assert run_json(capsys, "dataset", "get", "loans@2") == second

    code, out, _ = run(capsys, "model", "get", "credit-scoring/default-lr@1")
    assert code == 0 and "metric     auc=0.91 on loans@2" in out

    downloaded = training_files["model"].parent / "downloaded.skops"
    got = run_json(capsys, "model", "download", "credit-scoring/default-lr@1", "--out", str(downloaded))
    assert got["sha256"] == artifact_sha256 and downloaded.read_bytes() == training_files["model"].read_bytes()
    code, _, err = run(capsys, "model", "download", "credit-scoring/default-lr@7", "--out", str(downloaded))
    assert code == 1 and "404" in err
    assert run(capsys, "model", "download", "credit-scoring/default-lr", "--out", str(downloaded))[0] == 2

    assert DatasetVersion.objects.count() == 2 and ModelVersion.objects.count() == 1
    entry = AuditEntry.objects.filter(action=Action.REGISTRY_MODEL_VERSION_REGISTERED).get()
    assert (entry.actor_type, entry.actor_name) == ("service_account", "training-pipeline")


def test_a_pipeline_names_the_developers_of_a_version_and_a_bad_name_exits_1(pipeline, training_files, capsys):
    UserFactory(username="dee-developer", first_name="Dee", last_name="Developer")
    run_json(capsys, "model", "create", "credit-scoring/default-lr", "--name", "Default logistic regression")
    register = ("model", "register", "--model", "credit-scoring/default-lr", "--artifact",
                str(training_files["model"]), "--framework", "scikit-learn", "--intended-use", "Scoring applicants.")

    code, _, err = run(capsys, *register, "--developer", "dee-developer", "--developer", "svc.training-pipeline")
    assert code == 1
    assert "validation-failed" in err and "'svc.training-pipeline' is a service account; developers are people." in err
    assert ModelVersion.objects.count() == 0

    named = run_json(capsys, *register, "--developer", "dee-developer")
    assert named["developers"] == [{"username": "dee-developer", "display_name": "Dee Developer"}]
    assert AuditEntry.objects.get(action=Action.REGISTRY_MODEL_VERSION_REGISTERED).data["developers"] == [
        "dee-developer"]
    code, out, _ = run(capsys, "model", "get", "credit-scoring/default-lr@1")
    assert code == 0 and "  developers Dee Developer (dee-developer)" in out

    unnamed = run_json(capsys, *register)  # the pipeline's key names nobody: no developer is recorded
    assert unnamed["number"] == 2 and unnamed["developers"] == []
    code, out, _ = run(capsys, "model", "get", "credit-scoring/default-lr@2")
    assert code == 0 and "  developers none recorded" in out


def test_the_client_refuses_a_single_username_as_text_before_sending_anything(tmp_path):
    import httpx

    from docket.client import DocketClient

    artifact = tmp_path / "model.skops"
    artifact.write_bytes(b"not sent")

    def nothing_may_be_sent(request):
        raise AssertionError(f"sent {request.method} {request.url}")

    client = DocketClient("http://docket.test", "dkt_key", transport=httpx.MockTransport(nothing_may_be_sent))
    with pytest.raises(ValueError, match="developers is a list of usernames, not the text 'dee-developer'"):
        client.register_model_version("credit-scoring", "default-lr", artifact=artifact, framework="scikit-learn",
                                      intended_use="Scoring applicants.", developers="dee-developer")


def test_a_pipeline_registers_a_dataset_version_derived_from_others_and_a_bad_source_exits_1(
        pipeline, training_files, capsys):
    run_json(capsys, "dataset", "create", "raw-applications", "--name", "Raw applications", "--team", "credit-risk")
    run_json(capsys, "dataset", "create", "loans", "--name", "Loan applications", "--team", "credit-risk")
    raw = run_json(capsys, "dataset", "register", "raw-applications", "--sha256", "b" * 64, "--rows", "10",
                   "--schema", '[{"name": "age", "type": "integer"}]')

    code, _, err = run(capsys, "dataset", "register", "loans", "--file", str(training_files["train"]),
                       "--derived-from", "raw-applications@1", "--derived-from", "raw-applications@7")
    assert code == 1
    assert "validation-failed" in err and "no version 7 of dataset 'raw-applications' that you may see" in err
    assert DatasetVersion.objects.filter(dataset__key="loans").count() == 0

    derived = run_json(capsys, "dataset", "register", "loans", "--file", str(training_files["train"]),
                       "--derived-from", "raw-applications@1")
    assert derived["derived_from"] == [{"dataset": "raw-applications", "version": 1,
                                        "content_sha256": raw["content_sha256"]}]
    assert AuditEntry.objects.filter(action=Action.REGISTRY_DATASET_VERSION_REGISTERED).order_by("-index").first() \
        .data["derived_from"][0]["dataset"] == "raw-applications"
    code, out, _ = run(capsys, "dataset", "get", "loans@1")
    assert code == 0 and "  derived from raw-applications@1" in out
    # A reference without a version number is a usage error, before anything is sent.
    assert run(capsys, "dataset", "register", "loans", "--sha256", "c" * 64, "--derived-from", "raw-applications")[0] == 2
    assert DatasetVersion.objects.filter(dataset__key="loans").count() == 1


def test_the_client_refuses_derived_from_given_as_text_before_sending_anything():
    import httpx

    from docket.client import DocketClient

    def nothing_may_be_sent(request):
        raise AssertionError(f"sent {request.method} {request.url}")

    client = DocketClient("http://docket.test", "dkt_key", transport=httpx.MockTransport(nothing_may_be_sent))
    with pytest.raises(ValueError, match="derived_from is a list of"):
        client.register_dataset_version("loans", content_sha256="c" * 64, derived_from="raw-applications@1")


def test_refusals_exit_1_and_print_the_servers_reason(pipeline, tmp_path, capsys):
    run_json(capsys, "model", "create", "credit-scoring/default-lr", "--name", "LR")
    fake = tmp_path / "model.skops"
    fake.write_bytes(b"\x80\x04K\x01.")  # a pickle, named .skops
    code, _, err = run(capsys, "model", "register", "--model", "credit-scoring/default-lr", "--artifact", str(fake),
                       "--framework", "scikit-learn", "--intended-use", "x")
    assert code == 1
    assert "refused-file-format" in err and "pickle" in err.lower()
    code, out, _ = run(capsys, "--json", "use-case", "get", "someone-elses")
    assert code == 1
    assert json.loads(out)["type"] == "https://docket.dev/problems/not-found"
    assert ModelVersion.objects.count() == 0


def test_a_revoked_key_exits_1(pipeline, capsys):
    from django.utils import timezone

    pipeline.revoked_at, pipeline.revocation_reason = timezone.now(), "Test."
    pipeline.save()
    code, _, err = run(capsys, "whoami")
    assert code == 1 and "revoked" in err


def test_usage_and_connection_errors_exit_2(monkeypatch, tmp_path, capsys):
    assert run(capsys, "model", "register", "--model", "no-slash")[0] == 2
    assert run(capsys, "model", "register", "--model", "a/b", "--artifact", "x", "--framework", "f",
               "--intended-use", "i", "--metric", "auc=high@test")[0] == 2
    monkeypatch.setenv("DOCKET_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setenv("DOCKET_API_KEY", "dkt_abcdefgh_" + "x" * 43)
    code, _, err = run(capsys, "whoami")
    assert code == 2 and "Cannot reach Docket" in err
    monkeypatch.delenv("DOCKET_URL")
    monkeypatch.delenv("DOCKET_API_KEY")
    monkeypatch.setenv("DOCKET_CONFIG", str(tmp_path / "missing.json"))
    code, _, err = run(capsys, "whoami")
    assert code == 2 and "docket login" in err


def test_login_checks_the_key_and_writes_a_private_config_file(pipeline, live_server, monkeypatch, tmp_path, capsys):
    plaintext = os.environ["DOCKET_API_KEY"]
    monkeypatch.delenv("DOCKET_URL")
    monkeypatch.delenv("DOCKET_API_KEY")
    config = tmp_path / "docket" / "config.json"
    monkeypatch.setenv("DOCKET_CONFIG", str(config))
    code, _, err = run(capsys, "login", "--url", live_server.url, "--api-key", plaintext)
    assert code == 0, err
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert json.loads(config.read_text()) == {"url": live_server.url, "api_key": plaintext}
    assert run_json(capsys, "whoami")["username"] == "svc.training-pipeline"

    config.unlink()
    code, _, _ = run(capsys, "login", "--url", live_server.url, "--api-key", "dkt_abcdefgh_" + "y" * 43)
    assert code == 1
    assert not config.exists()
