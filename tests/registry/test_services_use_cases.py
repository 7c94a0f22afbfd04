"""use_case_create, use_case_update, use_case_classify and use_case_set_risk_tier."""

import pytest
from guardian.shortcuts import get_perms

from apps.audit.actions import Action
from apps.audit.models import AuditEntry
from apps.audit.services import SYSTEM
from apps.common.errors import DuplicateKey, ImmutableRecord, PermissionDenied, ValidationFailed
from apps.registry import services
from apps.registry.models import ClassificationDecision, RiskClass, UseCase
from tests.factories.accounts import UserFactory

pytestmark = pytest.mark.django_db

NO_HITS = {letter: False for letter in "abcdefgh"}


def create(actor, team, **overrides):
    arguments = {
        "actor": actor,
        "key": "cv-screening",
        "name": "CV screening",
        "intended_purpose": "Rank job applications for recruiters.",
        "owner_team": team,
        "business_owner": UserFactory(),
        "operator_role": "deployer",
        "affected_persons": "Job applicants",
        "member_states": ["de", "FR", "EL"],
    }
    arguments.update(overrides)
    return services.use_case_create(**arguments)


def classify(actor, use_case, **overrides):
    arguments = {
        "actor": actor,
        "use_case": use_case,
        "art5_answers": dict(NO_HITS),
        "annex_i_safety_component": False,
        "annex_iii_code": "III-5-b",
        "profiles_natural_persons": True,
        "rationale": "Scores the creditworthiness of natural persons.",
    }
    arguments.update(overrides)
    return services.use_case_classify(**arguments)


def last_entry() -> AuditEntry:
    return AuditEntry.objects.order_by("-index").first()


# --- use_case_create ----------------------------------------------------------------------------------


def test_use_case_create_stores_the_use_case_grants_the_owner_team_and_audits_it(submitter, team):
    use_case = create(submitter, team)

    assert use_case.member_states == ["DE", "FR", "GR"]
    assert use_case.risk_class == "" and use_case.current_classification is None
    assert set(get_perms(team.group, use_case)) == {"view_usecase", "submit_to_usecase"}
    assert submitter.has_perm("registry.submit_to_usecase", use_case)
    entry = last_entry()
    assert entry.action == Action.REGISTRY_USE_CASE_CREATED
    assert (entry.subject_type, entry.subject_id) == ("registry.usecase", str(use_case.pk))
    assert entry.actor_id == str(submitter.pk)
    assert entry.data["key"] == "cv-screening" and entry.data["owner_team"] == "credit-risk"
    assert entry.data["granted"] == [
        {"group": team.group.name, "team": "credit-risk", "permissions": ["view_usecase", "submit_to_usecase"]}
    ]


def test_use_case_create_accepts_system_as_actor_and_records_it(team):
    use_case = create(SYSTEM, team)

    assert use_case.created_by is None
    assert last_entry().actor_type == "system"


def test_use_case_create_refuses_a_duplicate_key_and_changes_nothing(submitter, team, audit_count):
    create(submitter, team)
    before = audit_count()

    with pytest.raises(DuplicateKey, match="'cv-screening' already exists"):
        create(submitter, team, name="Another")
    assert UseCase.objects.count() == 1
    assert audit_count() == before


def test_use_case_create_refuses_bad_fields_naming_each_and_changes_nothing(submitter, team, audit_count):
    service_account = UserFactory(username="svc.x", kind="service")
    with pytest.raises(ValidationFailed) as refused:
        create(submitter, team, key="not a slug!", operator_role="importer", member_states=["DE", "US"],
               business_owner=service_account, intended_purpose="  ")

    assert set(refused.value.field_errors) == {
        "key", "operator_role", "member_states", "business_owner", "intended_purpose"
    }
    assert "'US' is not an EU Member State code" in str(refused.value)
    assert UseCase.objects.count() == 0 and audit_count() == 0


def test_use_case_create_refuses_a_submitter_of_another_team(outsider, team, audit_count):
    with pytest.raises(PermissionDenied, match="submitters in team 'credit-risk'"):
        create(outsider, team)
    assert UseCase.objects.count() == 0 and audit_count() == 0


def test_use_case_create_refuses_an_auditor(auditor, team, audit_count):
    team.group.user_set.add(auditor)
    with pytest.raises(PermissionDenied, match="Auditors read the registry"):
        create(auditor, team)
    assert UseCase.objects.count() == 0 and audit_count() == 0


def test_use_case_create_refuses_a_team_member_without_the_submitter_role(team, audit_count):
    member = UserFactory(username="vic-viewer", teams=[team])
    with pytest.raises(PermissionDenied):
        create(member, team)
    assert UseCase.objects.count() == 0 and audit_count() == 0


# --- use_case_update ----------------------------------------------------------------------------------


def test_use_case_update_changes_only_given_fields_and_audits_before_and_after(submitter, use_case):
    use_case = services.use_case_update(
        actor=submitter, use_case=use_case, name="Credit scoring (retail)", member_states=["FR", "DE"]
    )

    use_case.refresh_from_db()
    assert use_case.name == "Credit scoring (retail)" and use_case.member_states == ["DE", "FR"]
    entry = last_entry()
    assert entry.action == Action.REGISTRY_USE_CASE_UPDATED and entry.subject_id == str(use_case.pk)
    assert entry.data["changed"] == ["member_states", "name"]
    assert entry.data["before"]["member_states"] == ["DE"]
    assert entry.data["after"] == {"member_states": ["DE", "FR"], "name": "Credit scoring (retail)"}


def test_use_case_update_with_unchanged_values_writes_nothing(submitter, use_case, audit_count):
    services.use_case_update(actor=submitter, use_case=use_case, name=use_case.name)
    assert audit_count() == 0


def test_use_case_update_refuses_an_unknown_operator_role_and_changes_nothing(admin_user, use_case, audit_count):
    with pytest.raises(ValidationFailed, match="operator_role 'owner' is not one of"):
        services.use_case_update(actor=admin_user, use_case=use_case, operator_role="owner", name="Changed")
    use_case.refresh_from_db()
    assert use_case.name != "Changed" and audit_count() == 0


def test_use_case_update_refuses_other_teams_and_auditors(outsider, auditor, use_case, audit_count):
    for actor in (outsider, auditor):
        with pytest.raises(PermissionDenied):
            services.use_case_update(actor=actor, use_case=use_case, name="Hijacked")
    use_case.refresh_from_db()
    assert use_case.name != "Hijacked" and audit_count() == 0


# --- use_case_classify: the computed risk class -------------------------------------------------------


def test_annex_iii_point_without_exemption_is_high_risk_and_the_decision_is_audited(reviewer, use_case):
    decision = classify(reviewer, use_case)

    use_case.refresh_from_db()
    assert decision.risk_class == RiskClass.HIGH
    assert use_case.risk_class == RiskClass.HIGH and use_case.current_classification == decision
    assert use_case.get_risk_class_display() == "High risk (Art. 6)"
    assert decision.annex_iii_point.code == "III-5-b" and decision.decided_by == reviewer
    entry = last_entry()
    assert entry.action == Action.REGISTRY_USE_CASE_CLASSIFIED
    assert (entry.subject_type, entry.subject_id) == ("registry.usecase", str(use_case.pk))
    assert entry.data["decision_id"] == decision.pk
    assert entry.data["risk_class"] == {"before": None, "after": "high"}
    assert entry.data["annex_iii_point"] == "III-5-b"
    assert entry.data["art5_answers"] == NO_HITS
    assert any("Art. 6(2)" in reason for reason in entry.data["reasons"])


def test_any_art5_hit_makes_the_use_case_prohibited_whatever_else_is_answered(admin_user, use_case):
    decision = classify(admin_user, use_case, art5_answers={**NO_HITS, "c": True}, art50_duties=["ai_interaction"])
    assert decision.risk_class == RiskClass.PROHIBITED
    assert "Art. 5(1)(c)" in last_entry().data["reasons"][0]


def test_an_annex_i_safety_component_is_high_risk_even_without_annex_iii(admin_user, use_case):
    decision = classify(admin_user, use_case, annex_i_safety_component=True, annex_iii_code=None,
                        profiles_natural_persons=False)
    assert decision.risk_class == RiskClass.HIGH


def test_a_valid_art6_3_exemption_lifts_high_risk_to_limited_or_minimal(admin_user, use_case):
    exempt = {"annex_iii_code": "III-4-a", "profiles_natural_persons": False, "art6_3_exemption": "d",
              "art6_3_rationale": "Only converts CVs into a structured form for the recruiter."}
    assert classify(admin_user, use_case, **exempt).risk_class == RiskClass.MINIMAL
    assert classify(admin_user, use_case, **exempt, art50_duties=["ai_interaction"]).risk_class == RiskClass.LIMITED


def test_art50_duties_without_other_grounds_are_limited_risk_and_nothing_is_minimal(admin_user, use_case):
    limited = classify(admin_user, use_case, annex_iii_code=None, profiles_natural_persons=False,
                       art50_duties=["synthetic_content", "ai_interaction", "ai_interaction"])
    assert limited.risk_class == RiskClass.LIMITED and limited.art50_duties == ["synthetic_content", "ai_interaction"]
    minimal = classify(admin_user, use_case, annex_iii_code=None, profiles_natural_persons=False)
    assert minimal.risk_class == RiskClass.MINIMAL


def test_reclassification_is_a_new_decision_and_the_old_one_is_kept_unchanged(admin_user, use_case):
    first = classify(admin_user, use_case)
    second = classify(admin_user, use_case, annex_iii_code=None, profiles_natural_persons=False,
                      rationale="Scope narrowed to fraud detection.")

    use_case.refresh_from_db()
    assert ClassificationDecision.objects.filter(use_case=use_case).count() == 2
    assert use_case.current_classification == second and use_case.risk_class == RiskClass.MINIMAL
    first.refresh_from_db()
    assert first.risk_class == RiskClass.HIGH
    assert last_entry().data["previous_decision_id"] == first.pk
    assert last_entry().data["risk_class"] == {"before": "high", "after": "minimal"}


def test_a_classification_decision_cannot_be_edited_or_deleted(admin_user, use_case):
    decision = classify(admin_user, use_case)
    decision.risk_class = RiskClass.MINIMAL
    with pytest.raises(ImmutableRecord, match="record a new decision"):
        decision.save()
    with pytest.raises(ImmutableRecord):
        decision.delete()
    with pytest.raises(ImmutableRecord):
        ClassificationDecision.objects.filter(pk=decision.pk).update(risk_class="minimal")
    with pytest.raises(ImmutableRecord):
        ClassificationDecision.objects.all().delete()
    assert ClassificationDecision.objects.get().risk_class == RiskClass.HIGH


# --- use_case_classify: bad input ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"annex_iii_code": "III-9-z"}, "annex_iii_code", "Unknown Annex III point 'III-9-z'"),
        ({"annex_iii_code": "III-5"}, "annex_iii_code", "III-5 is an Annex III area; choose one of its points"),
        ({"art6_3_exemption": "a", "art6_3_rationale": "Narrow task."}, "art6_3_exemption",
         "profiles natural persons is always high risk"),
        ({"profiles_natural_persons": False, "art6_3_exemption": "b"}, "art6_3_rationale",
         "needs a documented rationale"),
        ({"annex_iii_code": None, "profiles_natural_persons": False, "art6_3_exemption": "a",
          "art6_3_rationale": "Narrow."}, "art6_3_exemption", "applies only to a system listed in Annex III"),
        ({"art6_3_exemption": "z"}, "art6_3_exemption", "'z' is not one of"),
        ({"art5_answers": {"a": False, "b": False}}, "art5_answers", "missing: (c), (d), (e), (f), (g), (h)"),
        ({"art5_answers": {**NO_HITS, "a": "no"}}, "art5_answers.a", "must be true or false"),
        ({"art50_duties": ["chatbot"]}, "art50_duties", "'chatbot' is not an Art. 50 duty"),
        ({"rationale": ""}, "rationale", "rationale is required"),
    ],
    ids=[
        "unknown-annex-iii-code", "annex-iii-area-not-point", "exemption-for-profiling-system",
        "exemption-without-rationale", "exemption-without-annex-iii", "unknown-exemption",
        "missing-art5-answers", "art5-answer-not-boolean", "unknown-art50-duty", "no-rationale",
    ],
)
def test_use_case_classify_refuses_bad_input_and_changes_nothing(admin_user, use_case, audit_count, overrides,
                                                                  field, message):
    with pytest.raises(ValidationFailed) as refused:
        classify(admin_user, use_case, **overrides)

    assert field in refused.value.field_errors
    assert message in str(refused.value)
    use_case.refresh_from_db()
    assert ClassificationDecision.objects.count() == 0
    assert use_case.risk_class == "" and use_case.current_classification is None
    assert audit_count() == 0


def test_use_case_classify_refuses_the_owner_team_submitter_outsiders_and_auditors(
    submitter, outsider, auditor, use_case, audit_count
):
    for actor in (submitter, outsider, auditor):
        with pytest.raises(PermissionDenied, match="review|Auditors"):
            classify(actor, use_case)
    assert ClassificationDecision.objects.count() == 0 and audit_count() == 0


# --- use_case_set_risk_tier ---------------------------------------------------------------------------


def test_use_case_set_risk_tier_keeps_the_legal_class_apart_and_audits_before_and_after(reviewer, use_case):
    classify(reviewer, use_case)
    services.use_case_set_risk_tier(actor=reviewer, use_case=use_case, tier=2, rationale="Medium exposure.")
    services.use_case_set_risk_tier(actor=reviewer, use_case=use_case, tier="1", rationale="Portfolio grew.")

    use_case.refresh_from_db()
    assert use_case.model_risk_tier == "1" and use_case.risk_class == RiskClass.HIGH
    assert use_case.get_model_risk_tier_display() == "Tier 1 (high materiality)"
    assert use_case.model_risk_tier_set_by == reviewer
    entry = last_entry()
    assert entry.action == Action.REGISTRY_USE_CASE_RISK_TIER_SET and entry.subject_id == str(use_case.pk)
    assert entry.data == {
        "before": {"tier": "2", "rationale": "Medium exposure."},
        "after": {"tier": "1", "rationale": "Portfolio grew."},
    }


@pytest.mark.parametrize(("tier", "rationale"), [("4", "Why not."), ("1", "  ")], ids=["tier-4", "no-rationale"])
def test_use_case_set_risk_tier_refuses_bad_input_and_changes_nothing(admin_user, use_case, audit_count, tier,
                                                                       rationale):
    with pytest.raises(ValidationFailed):
        services.use_case_set_risk_tier(actor=admin_user, use_case=use_case, tier=tier, rationale=rationale)
    use_case.refresh_from_db()
    assert use_case.model_risk_tier == "" and audit_count() == 0


def test_use_case_set_risk_tier_refuses_submitters_and_auditors(submitter, auditor, use_case, audit_count):
    for actor in (submitter, auditor):
        with pytest.raises(PermissionDenied):
            services.use_case_set_risk_tier(actor=actor, use_case=use_case, tier="1", rationale="Mine.")
    assert audit_count() == 0


def test_a_django_superuser_without_the_admin_role_is_not_a_registry_admin():
    from apps.registry.permissions import is_admin
    from tests.factories.accounts import UserFactory

    operator = UserFactory(is_staff=True, is_superuser=True)
    assert not is_admin(operator)
    assert is_admin(UserFactory(roles=["admin"]))
