"""The registry's web pages: use case list and page, the classification wizard, model version and
dataset version pages. Visibility (404 for what one may not see), absent controls, server-side
refusals that change nothing, and query counts that do not grow with the rows shown."""

from __future__ import annotations

import pytest
from django.urls import reverse
from guardian.shortcuts import assign_perm

from apps.accounts.roles import Role
from apps.audit.actions import Action
from apps.audit.models import AuditEntry
from apps.audit.services import SYSTEM, record, sequence_queued_entries
from apps.registry import services
from apps.registry.models import (
    ClaimedMetric,
    ClassificationDecision,
    ModelVersionDataset,
    ModelVersionDeveloper,
    RiskClass,
    UseCase,
    evidence_window,
)
from tests.factories.accounts import UserFactory
from tests.factories.registry import (
    DatasetVersionFactory,
    DeploymentFactory,
    ModelFactory,
    ModelVersionFactory,
    UseCaseFactory,
)

pytestmark = pytest.mark.django_db

# Queries per page, whatever the number of rows (pinned with 2 and with 20 rows below).
USE_CASE_LIST_QUERIES = 6
USE_CASE_DETAIL_QUERIES = 20
MODEL_VERSION_DETAIL_QUERIES = 14
DATASET_VERSION_DETAIL_QUERIES = 9


def classification_answers(**overrides) -> dict:
    """A complete wizard submission: no Art. 5 practice, Annex III point 5(b) (creditworthiness), no
    exemption, no profiling, no Art. 50 duty."""
    answers = {f"art5_{letter}": "no" for letter in "abcdefgh"}
    answers.update({
        "annex_i_safety_component": "no",
        "annex_iii_code": "III-5-b",
        "profiles_natural_persons": "no",
        "art6_3_exemption": "",
        "art6_3_rationale": "",
        "rationale": "Creditworthiness of natural persons: Annex III point 5(b).",
    })
    answers.update(overrides)
    return answers


def classify_directly(actor, use_case, *, annex_iii_code="III-5-b", profiles_natural_persons=False):
    """Records a classification through the service, as set-up (no Art. 5 practice, no exemption)."""
    return services.use_case_classify(
        actor=actor, use_case=use_case, art5_answers=dict.fromkeys("abcdefgh", False),
        annex_i_safety_component=False, annex_iii_code=annex_iii_code,
        profiles_natural_persons=profiles_natural_persons, rationale="Set-up decision.",
    )


def linked_version(model, dataset_versions, *, developers=(), **kwargs):
    """A model version trained on `dataset_versions`, with one claimed metric on each, developed by
    `developers` (users)."""
    version = ModelVersionFactory(model=model, **kwargs)
    with evidence_window(version):
        for index, dataset_version in enumerate(dataset_versions):
            ModelVersionDataset.objects.create(model_version=version, dataset_version=dataset_version, role="train")
            ClaimedMetric.objects.create(model_version=version, name=f"auc_{index}", value=0.8,
                                         dataset_version=dataset_version, higher_is_better=True)
        for developer in developers:
            ModelVersionDeveloper.objects.create(model_version=version, user=developer)
    return version


def get_page(client, user, url):
    client.force_login(user)
    return client.get(url)


# --- sign-in and visibility ---------------------------------------------------------------------


def test_pages_redirect_anonymous_visitors_to_sign_in(client, use_case):
    for url in (reverse("registry:use_case_list"), reverse("registry:use_case_detail", args=[use_case.key]),
                reverse("registry:classify", args=[use_case.key])):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_use_case_list_shows_only_the_use_cases_the_user_may_see(client, submitter, other_team):
    UseCaseFactory(key="credit-scoring", owner_team=submitter.groups.get(team__isnull=False).team)
    UseCaseFactory(key="hiring-screen", owner_team=other_team)
    response = get_page(client, submitter, reverse("registry:use_case_list"))
    assert response.status_code == 200
    assert b"credit-scoring" in response.content
    assert b"hiring-screen" not in response.content


def test_use_case_list_filters_by_risk_class(client, auditor, team):
    UseCaseFactory(key="high-one", owner_team=team, risk_class=RiskClass.HIGH)
    UseCaseFactory(key="minimal-one", owner_team=team, risk_class=RiskClass.MINIMAL)
    response = get_page(client, auditor, reverse("registry:use_case_list") + "?risk_class=high")
    assert b"high-one" in response.content and b"minimal-one" not in response.content


def test_out_of_scope_use_case_is_404_not_403(client, outsider, use_case):
    response = get_page(client, outsider, reverse("registry:use_case_detail", args=[use_case.key]))
    assert response.status_code == 404
    # the same answer as for a use case that does not exist
    assert client.get(reverse("registry:use_case_detail", args=["no-such-use-case"])).status_code == 404


def test_use_case_page_shows_facts_versions_approvals_deployments_and_history(client, submitter, use_case, model):
    version = ModelVersionFactory(model=model, number=1)
    DeploymentFactory(model_version=version, environment="staging")
    record(actor=SYSTEM, action=Action.REGISTRY_USE_CASE_UPDATED, subject=use_case, data={"note": "history row"})
    response = get_page(client, submitter, reverse("registry:use_case_detail", args=[use_case.key]))
    content = response.content.decode()
    assert response.status_code == 200
    assert use_case.intended_purpose in content
    assert reverse("registry:model_version_detail", args=[version.pk]) in content
    assert version.artifact_sha256[:12] in content
    assert "staging" in content
    assert "registry.use_case.updated" in content
    # a submitter reads the history but is not an audit reader: no link into the audit browser
    assert reverse("audit:entry_list") not in content


# --- classification wizard ----------------------------------------------------------------------


def test_classify_link_is_shown_only_to_users_who_may_classify(client, reviewer, submitter, auditor, use_case):
    url = reverse("registry:use_case_detail", args=[use_case.key])
    classify_url = reverse("registry:classify", args=[use_case.key]).encode()
    assert classify_url in get_page(client, reviewer, url).content
    assert classify_url not in get_page(client, submitter, url).content
    assert classify_url not in get_page(client, auditor, url).content


def test_reviewer_records_a_classification_through_the_service(client, reviewer, use_case):
    client.force_login(reviewer)
    response = client.post(reverse("registry:classify", args=[use_case.key]), classification_answers())
    assert response.status_code == 302
    assert response["Location"] == reverse("registry:use_case_detail", args=[use_case.key])
    decision = ClassificationDecision.objects.get(use_case=use_case)
    assert decision.risk_class == RiskClass.HIGH
    assert decision.annex_iii_point_id == "III-5-b"
    assert decision.decided_by == reviewer
    use_case.refresh_from_db()
    assert use_case.current_classification == decision
    entry = AuditEntry.objects.order_by("-index").first()
    assert entry.action == Action.REGISTRY_USE_CASE_CLASSIFIED
    assert entry.subject_id == str(use_case.pk)
    assert entry.data["decision_id"] == decision.pk
    assert entry.data["risk_class"] == {"before": None, "after": "high"}


def test_classify_prefills_the_current_decision(client, reviewer, use_case):
    classify_directly(reviewer, use_case, annex_iii_code="III-4-a", profiles_natural_persons=True)
    response = get_page(client, reviewer, reverse("registry:classify", args=[use_case.key]))
    assert '<option value="III-4-a" selected>' in response.content.decode()
    assert response.context["form"]["profiles_natural_persons"].value() == "yes"
    assert response.context["form"]["art5_a"].value() == "no"


def test_profiling_exemption_is_refused_by_the_field_and_records_nothing(client, reviewer, use_case, audit_count):
    before = audit_count()
    client.force_login(reviewer)
    response = client.post(reverse("registry:classify", args=[use_case.key]), classification_answers(
        profiles_natural_persons="yes", art6_3_exemption="d", art6_3_rationale="Only prepares the file.",
    ))
    assert response.status_code == 400
    form = response.context["form"]
    assert any("profiles natural persons is always high risk" in error for error in form.errors["art6_3_exemption"])
    assert 'id="id_art6_3_exemption-errors"' in response.content.decode()
    assert not ClassificationDecision.objects.exists()
    assert audit_count() == before


def test_unanswered_art5_question_and_missing_rationale_are_refused(client, reviewer, use_case, audit_count):
    before = audit_count()
    answers = classification_answers(rationale="")
    del answers["art5_c"]
    client.force_login(reviewer)
    response = client.post(reverse("registry:classify", args=[use_case.key]), answers)
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"art5_c", "rationale"}
    assert not ClassificationDecision.objects.exists()
    assert audit_count() == before


def test_unknown_annex_iii_point_is_refused(client, reviewer, use_case):
    client.force_login(reviewer)
    response = client.post(reverse("registry:classify", args=[use_case.key]),
                           classification_answers(annex_iii_code="III-99-z"))
    assert response.status_code == 400
    assert "annex_iii_code" in response.context["form"].errors
    assert not ClassificationDecision.objects.exists()


@pytest.mark.parametrize("who", ["submitter", "auditor"])
def test_users_who_may_not_classify_get_403_and_nothing_changes(client, request, who, use_case, audit_count):
    user = request.getfixturevalue(who)
    before = audit_count()
    client.force_login(user)
    url = reverse("registry:classify", args=[use_case.key])
    assert client.get(url).status_code == 403
    assert client.post(url, classification_answers()).status_code == 403
    assert client.post(reverse("registry:classify_preview", args=[use_case.key]), {}).status_code == 403
    assert not ClassificationDecision.objects.exists()
    assert audit_count() == before


def test_outsider_posting_a_classification_gets_404_and_nothing_changes(client, outsider, use_case, audit_count):
    before = audit_count()
    client.force_login(outsider)
    response = client.post(reverse("registry:classify", args=[use_case.key]), classification_answers())
    assert response.status_code == 404
    assert not ClassificationDecision.objects.exists()
    assert audit_count() == before


def test_preview_shows_the_class_the_answers_lead_to_and_records_nothing(client, reviewer, use_case, audit_count):
    before = audit_count()
    client.force_login(reviewer)
    url = reverse("registry:classify_preview", args=[use_case.key])
    prohibited = client.post(url, classification_answers(art5_c="yes"), HTTP_HX_REQUEST="true")
    assert b"Prohibited (Art. 5)" in prohibited.content and b"Social scoring" in prohibited.content
    exempt = client.post(url, classification_answers(art6_3_exemption="a"))
    assert b"exempt under Art. 6(3)(a)" in exempt.content and b"Minimal risk" in exempt.content
    assert not ClassificationDecision.objects.exists()
    assert audit_count() == before


# --- model version and dataset version pages ----------------------------------------------------


def test_model_version_page_shows_the_registered_facts_and_links(client, submitter, model):
    dataset_version = DatasetVersionFactory(design_choices="Applicants 2019-2023, one row per application.")
    parent = ModelVersionFactory(model=model, number=1)
    developers = [UserFactory(username="dee-developer", first_name="Dee", last_name="Developer"),
                  UserFactory(username="ann-analyst", first_name="Ann", last_name="Analyst")]
    version = linked_version(model, [dataset_version], number=2, parent=parent, developers=developers,
                             training_code_repository="https://git.example.test/credit.git",
                             training_code_commit="0123456789abcdef0123456789abcdef01234567")
    record(actor=submitter, action=Action.REGISTRY_MODEL_VERSION_REGISTERED, subject=version, data={})
    content = get_page(client, submitter, reverse("registry:model_version_detail", args=[version.pk])).content.decode()
    assert "<dt>Developers</dt>" in content
    assert ('Dee Developer <span class="muted">(dee-developer)</span>, '
            'Ann Analyst <span class="muted">(ann-analyst)</span>') in content
    assert version.artifact_sha256 in content
    assert "0123456789abcdef0123456789abcdef01234567" in content
    assert dataset_version.content_sha256 in content
    assert "Applicants 2019-2023, one row per application." in content  # the datasheet
    assert "auc_0" in content
    assert reverse("registry:dataset_version_detail", args=[dataset_version.pk]) in content
    assert reverse("registry:model_version_detail", args=[parent.pk]) in content
    assert "registry.model_version.registered" in content


def test_model_version_page_says_when_no_developers_were_recorded(client, submitter, model):
    pipeline = UserFactory(username="svc.ci", first_name="", last_name="", kind="service")
    version = ModelVersionFactory(model=model, registered_by=pipeline)
    content = get_page(client, submitter, reverse("registry:model_version_detail", args=[version.pk])).content.decode()
    assert "none recorded (registered by svc.ci)" in content


def test_model_version_of_an_invisible_use_case_is_404(client, outsider, model):
    version = ModelVersionFactory(model=model)
    assert get_page(client, outsider, reverse("registry:model_version_detail", args=[version.pk])).status_code == 404


def test_dataset_version_page_shows_facts_usage_and_history(client, submitter, model):
    dataset_version = DatasetVersionFactory(contains_personal_data=True, legal_basis="b",
                                            bias_examination="Checked approval rates by age band.")
    version = linked_version(model, [dataset_version])
    record(actor=SYSTEM, action=Action.REGISTRY_DATASET_VERSION_LIFECYCLE_CHANGED, subject=dataset_version,
           data={"state": {"before": "active", "after": "active"}})
    response = get_page(client, submitter, reverse("registry:dataset_version_detail", args=[dataset_version.pk]))
    content = response.content.decode()
    assert response.status_code == 200
    assert dataset_version.content_sha256 in content
    assert "Checked approval rates by age band." in content
    assert "GDPR Art. 6(1)(b)" in content
    assert reverse("registry:model_version_detail", args=[version.pk]) in content
    assert "registry.dataset_version.lifecycle_changed" in content


def test_dataset_version_nobody_linked_to_the_user_is_404(client, outsider):
    dataset_version = DatasetVersionFactory()  # owned by a third team, used by nothing
    response = get_page(client, outsider, reverse("registry:dataset_version_detail", args=[dataset_version.pk]))
    assert response.status_code == 404


def test_dataset_version_page_lists_only_visible_users_of_it(client, submitter, model, other_team):
    dataset_version = DatasetVersionFactory()
    visible = linked_version(model, [dataset_version])
    hidden = linked_version(ModelFactory(use_case=UseCaseFactory(owner_team=other_team)), [dataset_version])
    content = get_page(client, submitter,
                       reverse("registry:dataset_version_detail", args=[dataset_version.pk])).content.decode()
    assert reverse("registry:model_version_detail", args=[visible.pk]) in content
    assert reverse("registry:model_version_detail", args=[hidden.pk]) not in content


def test_dataset_version_page_shows_the_visible_versions_it_was_derived_from(client, submitter, team, other_team):
    from tests.factories.registry import DatasetFactory

    raw = DatasetVersionFactory(dataset=DatasetFactory(key="raw-applications", owner_team=team), number=1)
    hidden = DatasetVersionFactory(dataset=DatasetFactory(key="hr-records", owner_team=other_team), number=1)
    derived = services.dataset_version_register(
        actor=SYSTEM, dataset=DatasetFactory(key="loans", owner_team=team), content_sha256="d" * 64, row_count=1,
        schema=[{"name": "age", "type": "integer"}], derived_from=[raw, hidden])
    content = get_page(client, submitter, reverse("registry:dataset_version_detail", args=[derived.pk])).content.decode()
    derived_from = content[content.index('id="derived-from-heading"'):content.index('id="usage-heading"')]
    assert reverse("registry:dataset_version_detail", args=[raw.pk]) in derived_from, derived_from
    assert "raw-applications v1" in derived_from and "raw-applications v1" in content
    assert reverse("registry:dataset_version_detail", args=[hidden.pk]) not in content and "hr-records" not in content
    source_page = get_page(client, submitter, reverse("registry:dataset_version_detail", args=[raw.pk]))
    assert "The registration named no source dataset version you may see." in source_page.content.decode()


# --- constant query counts ----------------------------------------------------------------------


def _fill_use_case(use_case, model, rows: int) -> None:
    existing = model.versions.count()
    for number in range(existing + 1, rows + 1):
        dataset_version = DatasetVersionFactory()
        version = linked_version(model, [dataset_version], number=number, developers=[UserFactory()])
        DeploymentFactory(model_version=version, environment=f"env-{number}")
        record(actor=SYSTEM, action=Action.REGISTRY_USE_CASE_UPDATED, subject=use_case, data={"n": number})


def test_use_case_list_query_count_does_not_grow(client, admin_user, team, django_assert_num_queries):
    client.force_login(admin_user)
    for rows in (2, 20):
        while UseCase.objects.count() < rows:
            UseCaseFactory(owner_team=team, risk_class=RiskClass.HIGH)
        with django_assert_num_queries(USE_CASE_LIST_QUERIES):
            assert client.get(reverse("registry:use_case_list")).status_code == 200


def test_use_case_detail_query_count_does_not_grow(client, reviewer, use_case, model, django_assert_num_queries):
    client.force_login(reviewer)
    for rows in (2, 20):
        _fill_use_case(use_case, model, rows)
        for _ in range(rows - ClassificationDecision.objects.count()):
            classify_directly(reviewer, use_case)
        sequence_queued_entries()  # the setup's entries; a request starts with none queued
        with django_assert_num_queries(USE_CASE_DETAIL_QUERIES):
            response = client.get(reverse("registry:use_case_detail", args=[use_case.key]))
        assert response.status_code == 200
        assert len(response.context["versions"].object_list) == rows


def test_model_version_detail_query_count_does_not_grow(client, submitter, model, django_assert_num_queries):
    client.force_login(submitter)
    for number, rows in ((1, 2), (2, 20)):
        version = linked_version(model, [DatasetVersionFactory() for _ in range(rows)], number=number,
                                 developers=[UserFactory() for _ in range(rows)])
        for _ in range(rows):
            record(actor=SYSTEM, action=Action.REGISTRY_MODEL_VERSION_REGISTERED, subject=version, data={})
        sequence_queued_entries()  # the setup's entries; a request starts with none queued
        with django_assert_num_queries(MODEL_VERSION_DETAIL_QUERIES):
            response = client.get(reverse("registry:model_version_detail", args=[version.pk]))
        assert len(response.context["datasheets"]) == rows


def test_dataset_version_detail_query_count_does_not_grow(client, submitter, model, django_assert_num_queries):
    client.force_login(submitter)
    for rows in (2, 20):
        dataset_version = DatasetVersionFactory()
        for _ in range(rows):
            linked_version(model, [dataset_version])
            record(actor=SYSTEM, action=Action.REGISTRY_DATASET_VERSION_REGISTERED, subject=dataset_version, data={})
        sequence_queued_entries()  # the setup's entries; a request starts with none queued
        with django_assert_num_queries(DATASET_VERSION_DETAIL_QUERIES):
            response = client.get(reverse("registry:dataset_version_detail", args=[dataset_version.pk]))
        assert len(response.context["usage"]) == rows


def test_admin_holding_no_review_grant_may_still_classify(client, use_case):
    admin = UserFactory(roles=[Role.ADMIN])
    assert reverse("registry:classify", args=[use_case.key]).encode() in get_page(
        client, admin, reverse("registry:use_case_detail", args=[use_case.key])).content


def test_review_grant_through_the_team_shows_the_wizard(client, team, use_case):
    member = UserFactory(roles=[Role.VALIDATOR], teams=[team])
    assign_perm("registry.review_usecase", team.group, use_case)
    assert get_page(client, member, reverse("registry:classify", args=[use_case.key])).status_code == 200
