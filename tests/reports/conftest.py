"""A complete high-risk system (classified use case, real trained model version with datasheets, a
review with realistic check results, a finding, a risk acceptance, two signatures and an approval)
and an incomplete one, for the document tests."""

from __future__ import annotations

import datetime as dt
import io

import pypdf
import pytest
from django.core.management import call_command
from django.utils import timezone
from guardian.shortcuts import assign_perm

from apps.accounts.roles import Role
from apps.audit.services import SYSTEM
from apps.registry import services as registry
from apps.reports import services
from apps.reports.documents.checklist import DOCUMENTATION_FIELDS
from apps.reports.models import GeneratedDocument
from apps.reviews import services as reviews
from apps.reviews.models import CheckStatus
from tests.factories.accounts import TeamFactory, UserFactory
from tests.factories.registry import UseCaseFactory
from tests.factories.reviews import trained_model_version

PASSWORD = "correct-horse-battery-staple"
FAIRNESS_METRICS = {
    "by_attribute": {
        "sex": {"attributes": ["sex"], "groups": {
            "F": {"n": 301, "base_rate": 0.3123, "selection_rate": 0.2791, "tpr": 0.6489, "fpr": 0.1111,
                  "ppv": 0.7262, "small": False},
            "M": {"n": 299, "base_rate": 0.2943, "selection_rate": 0.2642, "tpr": 0.6364, "fpr": 0.1090,
                  "ppv": 0.7089, "small": False}},
            "groups_compared": 2, "demographic_parity_difference": 0.0149, "demographic_parity_ratio": 0.9466,
            "equal_opportunity_difference": 0.0125, "equalized_odds_difference": 0.0125},
    },
    "small_groups": [], "min_group_size": 30,
}
PERFORMANCE_METRICS = {"tolerance": 0.01, "minimums": [{"name": "roc_auc", "minimum": 0.7, "value": 0.8123,
                                                        "met": True}],
                       "claims": [{"name": "accuracy", "dataset": "evaluation", "claimed": 0.7817,
                                   "recomputed": 0.7817, "difference": 0.0, "within_tolerance": True}]}
EXPLAINABILITY_METRICS = {"global_importance": [{"feature": "late_payments", "mean_abs_shap": 0.1234},
                                                {"feature": "debt_ratio", "mean_abs_shap": 0.0567}]}


@pytest.fixture(autouse=True)
def reference_data(db):
    call_command("load_reference_data", verbosity=0)
    reviews.policy_defaults_load()


@pytest.fixture
def team():
    return TeamFactory(key="credit-risk")


@pytest.fixture
def developer(team):
    return UserFactory(username="dee-developer", first_name="Dee", last_name="Developer",
                       roles=[Role.SUBMITTER], teams=[team])


@pytest.fixture
def submitter(team):
    return UserFactory(username="sam-submitter", first_name="Sam", last_name="Submitter",
                       roles=[Role.SUBMITTER], teams=[team])


def _reviewer(username, first, last, role, use_case):
    user = UserFactory(username=username, first_name=first, last_name=last, roles=[role])
    assign_perm("registry.review_usecase", user, use_case)
    return user


@pytest.fixture
def auditor():
    return UserFactory(username="aud-auditor", roles=[Role.AUDITOR])


@pytest.fixture
def outsider():
    """A submitter of another team: sees nothing of credit-scoring."""
    return UserFactory(username="oli-outsider", roles=[Role.SUBMITTER], teams=[TeamFactory(key="fraud")])


@pytest.fixture
def use_case(team):
    use_case = UseCaseFactory(key="credit-scoring", name="Credit scoring", owner_team=team,
                              affected_persons="Consumer credit applicants")
    registry.use_case_classify(
        actor=SYSTEM, use_case=use_case, art5_answers={letter: False for letter in "abcdefgh"},
        annex_i_safety_component=False, annex_iii_code="III-5-b", profiles_natural_persons=True,
        rationale="Creditworthiness of natural persons: Annex III point 5(b).")
    registry.use_case_set_risk_tier(actor=SYSTEM, use_case=use_case, tier="1", rationale="Material lending volume.")
    use_case.refresh_from_db()
    return use_case


@pytest.fixture
def complete_system(use_case, developer, submitter):
    """Returns (model version, review case): approved, every item documented."""
    validator = _reviewer("val-validator", "Vera", "Validator", Role.VALIDATOR, use_case)
    approver = _reviewer("ada-approver", "Ada", "Approver", Role.APPROVER, use_case)
    version = trained_model_version(use_case=use_case, registered_by=developer, rows=600)
    documentation = {field: f"Documented {field.replace('_', ' ')}." for field in DOCUMENTATION_FIELDS}
    case = reviews.review_open(actor=submitter, model_version=version, environment="production",
                               label_column="defaulted", documentation=documentation)
    reviews.review_checks_start(case=case)
    metrics = {"fairness": FAIRNESS_METRICS, "performance": PERFORMANCE_METRICS,
               "explainability": EXPLAINABILITY_METRICS}
    for result in case.check_results.order_by("kind"):
        failed = result.kind == "data_governance"
        reviews.check_result_record(
            check_result_id=result.pk,
            outcome=reviews.CheckOutcome(
                status=CheckStatus.FAILED if failed else CheckStatus.PASSED,
                summary=f"{result.kind} {'failed' if failed else 'passed'}",
                failure_reasons=["Retention date of the test data is too short."] if failed else [],
                metrics=metrics.get(result.kind, {"checked": True}), model_sha256=version.artifact_sha256,
                random_seed=7),
            duration_seconds=0.2)
    case.refresh_from_db()
    finding = reviews.finding_raise(actor=validator, case=case, severity="medium", title="Thin data for age 61+",
                                    description="Few applicants over 60 in the test split.", owner=developer,
                                    due_date=timezone.localdate() + dt.timedelta(days=30))
    reviews.finding_resolve(actor=validator, finding=finding, resolution="Monitoring added for the 61+ band.")
    governance = case.check_results.get(kind="data_governance")
    reviews.review_validate(actor=validator, case=case, password=PASSWORD)
    reviews.risk_accept(actor=approver, check_result=governance, rationale="Retention extended by contract.")
    reviews.review_approve(actor=approver, case=case, password=PASSWORD, conditions=["Re-validate in 6 months"])
    case.refresh_from_db()
    return version, case


@pytest.fixture
def incomplete_system(team, developer):
    """A use case with no classification and a version without datasets, reviews or documentation."""
    use_case = UseCaseFactory(key="cv-screening", name="CV screening", owner_team=team, affected_persons="")
    import numpy as np
    import skops.io
    from django.core.files.base import ContentFile
    from sklearn.linear_model import LogisticRegression

    from tests.factories.registry import ModelFactory

    model = ModelFactory(use_case=use_case, key="ranker", name="Ranker")
    estimator = LogisticRegression().fit(np.array([[0.0], [1.0]]), [0, 1])
    return registry.model_version_register(
        actor=developer, model=model, artifact=ContentFile(skops.io.dumps(estimator), name="model.skops"),
        framework="scikit-learn", intended_use="Rank applications for recruiters.")


def generate(actor, kind, subject=None, **kwargs) -> GeneratedDocument:
    """Requests a document and builds it as the queued task would (the task calls report_build)."""
    document = services.report_generate(actor=actor, kind=kind, subject=subject, **kwargs)
    return services.report_build(document_id=document.pk)


def pdf_text(document: GeneratedDocument) -> str:
    with document.file.open("rb") as handle:
        reader = pypdf.PdfReader(io.BytesIO(handle.read()))
    return "\n".join(page.extract_text() for page in reader.pages)


def pdf_pages(document: GeneratedDocument) -> list[str]:
    with document.file.open("rb") as handle:
        reader = pypdf.PdfReader(io.BytesIO(handle.read()))
    return [page.extract_text() for page in reader.pages]
