"""`docket review` against a live Docket server and a real Celery worker: a pipeline submits a model
version, waits while the checks run (progress on stderr), and exits 0 when every check passed and 1
when one failed; usage and connection problems exit 2, refusals 1."""

from __future__ import annotations

import json

import pytest

from apps.accounts.scopes import Scope
from apps.reviews import services
from apps.reviews.models import ReviewCase
from docket import cli
from tests.factories.accounts import TeamFactory, UserFactory, api_key_with_plaintext
from tests.factories.registry import UseCaseFactory
from tests.factories.reviews import trained_model_version
from tests.integration.worker import running_celery_worker


@pytest.fixture
def pipeline(live_server, monkeypatch, tmp_path):
    """Default policies, a minimal-risk use case (documentation and performance checks), a developer
    and the team's pipeline key (read, reviews:submit) configured through the environment."""
    services.policy_defaults_load()
    team = TeamFactory(key="credit-risk")
    use_case = UseCaseFactory(key="credit-scoring", owner_team=team, risk_class="minimal", model_risk_tier="3")
    developer = UserFactory(username="dee-developer", teams=[team])
    _, plaintext = api_key_with_plaintext(service_account__name="training-pipeline", service_account__team=team,
                                          service_account__scopes=[Scope.READ, Scope.REVIEWS_SUBMIT])
    monkeypatch.setenv("DOCKET_URL", live_server.url)
    monkeypatch.setenv("DOCKET_API_KEY", plaintext)
    monkeypatch.setenv("DOCKET_CONFIG", str(tmp_path / "config.json"))
    return use_case, developer


def run(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.slow
def test_submit_wait_shows_progress_and_exits_0_when_every_check_passed_and_1_when_one_failed(
    pipeline, capsys, tmp_path
):
    use_case, developer = pipeline
    honest = trained_model_version(use_case=use_case, registered_by=developer, rows=600, model_key="honest")
    overclaimed = trained_model_version(use_case=use_case, registered_by=developer, rows=600, seed=12,
                                        model_key="overclaimed", claimed={"accuracy": 0.999})

    with running_celery_worker(tmp_path / "celery") as log:
        code, out, err = run(capsys, "review", "submit", "--model", "credit-scoring/honest", "--version", "1",
                             "--env", "production", "--label-column", "defaulted", "--wait", "--interval", "0.5")
        assert code == 0, (out, err, log.read_text()[-3000:])
        assert "every check passed" in out
        assert "documentation    passed" in out and "performance      passed" in out
        progress = err.strip().splitlines()
        assert progress[0].startswith("review ") and (" open " in progress[0] or " checks_running " in progress[0])
        assert "awaiting_validation 100%" in progress[-1]

        code, out, err = run(capsys, "--json", "review", "submit", "--model", "credit-scoring/overclaimed@1",
                             "--env", "production", "--label-column", "defaulted", "--wait", "--interval", "0.5")
        assert code == 1, (out, err)
        case = json.loads(out)
        assert case["status"] == "awaiting_validation"
        assert {check["kind"]: check["status"] for check in case["checks"]} == {
            "documentation": "passed", "performance": "failed"}

    honest_case = ReviewCase.objects.get(model_version=honest)
    code, out, _ = run(capsys, "review", "status", str(honest_case.pk))
    assert code == 0 and f"review {honest_case.pk}: credit-scoring/honest@1 for production  awaiting_validation" in out
    code, _, _ = run(capsys, "review", "status", str(ReviewCase.objects.get(model_version=overclaimed).pk))
    assert code == 1
    assert overclaimed.number == 1


def test_usage_connection_and_refusals_exit_2_2_and_1(pipeline, capsys, monkeypatch):
    code, _, err = run(capsys, "review", "submit", "--model", "credit-scoring/honest", "--env", "production")
    assert code == 2 and "Name the version" in err
    code, _, err = run(capsys, "review", "submit", "--model", "credit-scoring/honest@1", "--version", "2",
                       "--env", "production")
    assert code == 2 and "--version says 2" in err

    code, _, err = run(capsys, "review", "submit", "--model", "credit-scoring/no-such-model@1", "--env", "production")
    assert code == 1 and "not-found" in err
    code, _, err = run(capsys, "review", "status", "999999")
    assert code == 1 and "not-found" in err

    monkeypatch.setenv("DOCKET_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    code, _, err = run(capsys, "review", "status", "1")
    assert code == 2 and "Cannot reach Docket" in err
    assert ReviewCase.objects.count() == 0


def test_wait_gives_up_after_its_timeout_with_exit_2(pipeline, capsys):
    use_case, developer = pipeline
    trained_model_version(use_case=use_case, registered_by=developer, rows=300, model_key="slow")
    # No worker runs: the checks stay queued, so the wait times out.
    code, _, err = run(capsys, "review", "submit", "--model", "credit-scoring/slow@1", "--env", "production",
                       "--label-column", "defaulted", "--wait", "--timeout", "1", "--interval", "0.3")
    assert code == 2 and "still open after 1 s" in err
    assert ReviewCase.objects.get().status == "open"
