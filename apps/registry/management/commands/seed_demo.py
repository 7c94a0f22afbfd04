"""Loads reference data and creates the demo installation through the services, so that every demo row
has its audit entry. Idempotent: what already exists is left as it is and nothing is created twice."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import io

from django.core.files.base import ContentFile
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from guardian.shortcuts import get_user_perms

from apps.accounts import services as accounts
from apps.accounts.models import Team, User
from apps.accounts.roles import Role
from apps.audit.services import SYSTEM
from apps.common.errors import ApplicationError
from apps.registry import demo
from apps.registry import services as registry
from apps.registry.models import Dataset, DatasetVersion, Model, UseCase

DEFAULT_PASSWORD = "docket-demo-password"
DEMO_USERS = [
    # username, first name, last name, role, teams
    ("submitter", "Sam", "Submitter", Role.SUBMITTER, ["credit-risk", "talent", "fraud"]),
    ("validator", "Val", "Validator", Role.VALIDATOR, []),
    ("approver", "Ada", "Approver", Role.APPROVER, []),
    ("auditor", "Aud", "Auditor", Role.AUDITOR, []),
    ("admin", "Adm", "Administrator", Role.ADMIN, []),
]
DEMO_TEAMS = [("credit-risk", "Credit Risk Analytics"), ("talent", "Talent Acquisition"), ("fraud", "Fraud Prevention")]
NO_ART5_HIT = {letter: False for letter in "abcdefgh"}


class Command(BaseCommand):
    help = "Creates demo users, teams, use cases, datasets and a trained credit model. Safe to run repeatedly."

    def add_arguments(self, parser):
        parser.add_argument("--password", default=DEFAULT_PASSWORD, help="Password of newly created demo users.")

    def handle(self, *args, password: str, **options):
        call_command("load_reference_data", stdout=io.StringIO())
        self.created: list[str] = []
        try:
            users = self._users(password)
            teams = self._teams(users)
            use_cases = self._use_cases(users, teams)
            datasets = self._datasets(teams)
            self._credit_model(use_cases["credit-scoring"], datasets, developers=[users["submitter"]])
            self._credit_review(users, use_cases["credit-scoring"])
        except ApplicationError as exc:
            raise CommandError(f"Seeding the demo failed: {exc}") from exc
        self.stdout.write(
            f"Demo data ready: created {len(self.created)} object(s)"
            + (f" ({', '.join(self.created)})." if self.created else "; everything already existed.")
        )
        self.stdout.write("Demo users (username / password / role):")
        for username, _first, _last, role, _teams in DEMO_USERS:
            note = "" if f"user:{username}" in self.created else "  (existing user: password left unchanged)"
            self.stdout.write(f"  {username:<10} / {password} / {role.value}{note}")

    # --- people and teams ---------------------------------------------------------------------------

    def _users(self, password: str) -> dict[str, User]:
        users = {}
        for username, first_name, last_name, role, _teams in DEMO_USERS:
            user = User.objects.filter(username=username).first()
            if user is None:
                user = accounts.user_create(
                    actor=SYSTEM, username=username, password=password, first_name=first_name,
                    last_name=last_name, email=f"{username}@docket.example", roles=[role],
                )
                self.created.append(f"user:{username}")
            users[username] = user
        return users

    def _teams(self, users: dict[str, User]) -> dict[str, Team]:
        teams = {}
        for key, name in DEMO_TEAMS:
            team = Team.objects.filter(key=key).first()
            if team is None:
                team = accounts.team_create(actor=SYSTEM, key=key, name=name)
                self.created.append(f"team:{key}")
            teams[key] = team
        for username, _first, _last, _role, team_keys in DEMO_USERS:
            for key in team_keys:
                if not teams[key].has_member(users[username]):
                    accounts.team_member_add(actor=SYSTEM, team=teams[key], user=users[username])
        return teams

    # --- use cases ----------------------------------------------------------------------------------

    def _use_case(self, *, key, team, owner, classification: dict, tier: str, tier_rationale: str, reviewers,
                  **fields) -> UseCase:
        use_case = UseCase.objects.filter(key=key).first()
        if use_case is None:
            use_case = registry.use_case_create(actor=SYSTEM, key=key, owner_team=team, business_owner=owner, **fields)
            self.created.append(f"use case:{key}")
        if use_case.current_classification_id is None:
            registry.use_case_classify(actor=SYSTEM, use_case=use_case, art5_answers=NO_ART5_HIT, **classification)
        if not use_case.model_risk_tier:
            use_case = registry.use_case_set_risk_tier(actor=SYSTEM, use_case=use_case, tier=tier,
                                                       rationale=tier_rationale)
        for reviewer in reviewers:
            if "review_usecase" not in get_user_perms(reviewer, use_case):
                accounts.use_case_permission_grant(
                    actor=SYSTEM, use_case=use_case, permission="review_usecase", user=reviewer
                )
        return use_case

    def _use_cases(self, users, teams) -> dict[str, UseCase]:
        reviewers = [users["validator"], users["approver"]]
        return {
            "credit-scoring": self._use_case(
                key="credit-scoring",
                name="Consumer credit scoring",
                intended_purpose="Estimate the probability that a consumer loan applicant defaults within 12 "
                                 "months, to support the credit officer's decision.",
                team=teams["credit-risk"],
                owner=users["admin"],
                operator_role="both",
                affected_persons="Consumer loan applicants (natural persons).",
                member_states=["DE", "FR", "NL"],
                classification={
                    "annex_i_safety_component": False,
                    "annex_iii_code": "III-5-b",
                    "profiles_natural_persons": True,
                    "rationale": "Evaluates the creditworthiness of natural persons (Annex III point 5(b)); it "
                                 "profiles applicants, so no Art. 6(3) exemption is available.",
                },
                tier="1",
                tier_rationale="Drives lending decisions across the consumer portfolio: high materiality.",
                reviewers=reviewers,
            ),
            "cv-screening": self._use_case(
                key="cv-screening",
                name="CV screening for shortlisting",
                intended_purpose="Rank incoming job applications so recruiters review the most relevant first.",
                team=teams["talent"],
                owner=users["admin"],
                operator_role="deployer",
                affected_persons="Job applicants.",
                member_states=["DE", "IE"],
                classification={
                    "annex_i_safety_component": False,
                    "annex_iii_code": "III-4-a",
                    "profiles_natural_persons": True,
                    "rationale": "Analyses and filters job applications (Annex III point 4(a)); profiles "
                                 "applicants, so no Art. 6(3) exemption is available.",
                },
                tier="2",
                tier_rationale="Assists recruiters; every shortlist is reviewed by a person: medium materiality.",
                reviewers=reviewers,
            ),
            "fraud-detection": self._use_case(
                key="fraud-detection",
                name="Card fraud detection",
                intended_purpose="Flag card transactions likely to be fraudulent for analyst review.",
                team=teams["fraud"],
                owner=users["admin"],
                operator_role="provider",
                affected_persons="Card holders whose transactions are scored.",
                member_states=["DE", "FR", "IT", "ES"],
                classification={
                    "annex_i_safety_component": False,
                    "annex_iii_code": None,
                    "profiles_natural_persons": False,
                    "rationale": "Detecting financial fraud is expressly excluded from Annex III point 5(b); no "
                                 "other Annex III point, Art. 5 practice or Art. 50 duty applies: minimal risk.",
                },
                tier="2",
                tier_rationale="Losses are bounded by analyst review of every alert: medium materiality.",
                reviewers=reviewers,
            ),
        }

    # --- datasets -----------------------------------------------------------------------------------

    def _dataset_version(self, *, key, name, team, source_system, description, table: demo.Table,
                         file_name: str, **version_fields) -> DatasetVersion:
        dataset = Dataset.objects.filter(key=key).first()
        if dataset is None:
            dataset = registry.dataset_create(actor=SYSTEM, key=key, name=name, owner_team=team,
                                              source_system=source_system, description=description)
            self.created.append(f"dataset:{key}")
        version = DatasetVersion.objects.filter(dataset=dataset).order_by("number").first()
        if version is None:
            version = registry.dataset_version_register(
                actor=SYSTEM, dataset=dataset, file=ContentFile(table.to_csv(), name=file_name), **version_fields
            )
            self.created.append(f"dataset version:{key} v{version.number}")
        return version

    def _datasets(self, teams) -> dict[str, DatasetVersion]:
        retention = timezone.localdate() + dt.timedelta(days=5 * 365)
        train, test = demo.split(demo.credit_applications())
        personal = {
            "contains_personal_data": True,
            "contains_special_category_data": False,
            "legal_basis": "b",
            "retention_until": retention,
        }
        credit_sheet = {
            "design_choices": "Financial features only; sex and age band are kept for bias checks, not as inputs.",
            "collection_and_origin": "Synthetic data generated by Docket's seed_demo (numpy seed "
                                     f"{demo.CREDIT_SEED}); no real person is described.",
            "bias_examination": "Default rates are compared across sex and age band.",
            "data_gaps": "Applicants over 65 are under-represented (7%).",
            "motivation": "Demonstrates Docket's data-governance records.",
            "composition": "One row per loan application; label `defaulted` (1 = default within 12 months).",
        }
        return {
            "credit-train": self._dataset_version(
                key="credit-applications-train", name="Credit applications (training split)",
                team=teams["credit-risk"], source_system="loan-origination (synthetic)",
                description="Synthetic consumer loan applications, training split.",
                table=train, file_name="credit_applications_train.csv", protected_attributes=["sex", "age_band"],
                datasheet=credit_sheet, **personal,
            ),
            "credit-test": self._dataset_version(
                key="credit-applications-test", name="Credit applications (test split)",
                team=teams["credit-risk"], source_system="loan-origination (synthetic)",
                description="Synthetic consumer loan applications, held-out test split.",
                table=test, file_name="credit_applications_test.csv", protected_attributes=["sex", "age_band"],
                datasheet=credit_sheet, **personal,
            ),
            "cv": self._dataset_version(
                key="cv-applications", name="Job applications", team=teams["talent"],
                source_system="applicant-tracking (synthetic)", description="Synthetic job applications.",
                table=demo.cv_applications(), file_name="cv_applications.csv",
                protected_attributes=["sex", "age_band"], **personal,
                datasheet={"collection_and_origin": f"Synthetic (numpy seed {demo.CV_SEED})."},
            ),
            "fraud": self._dataset_version(
                key="card-transactions", name="Card transactions", team=teams["fraud"],
                source_system="card-switch (synthetic)", description="Synthetic card transactions.",
                table=demo.card_transactions(), file_name="card_transactions.csv",
                contains_personal_data=True, legal_basis="c", retention_until=retention,
                datasheet={"collection_and_origin": f"Synthetic (numpy seed {demo.FRAUD_SEED}); customers are "
                                                    "pseudonymous references."},
            ),
        }

    # --- the credit model ---------------------------------------------------------------------------

    def _credit_model(self, use_case: UseCase, datasets: dict[str, DatasetVersion], *,
                      developers: list[User]) -> None:
        import sklearn
        import skops.io

        model = Model.objects.filter(use_case=use_case, key="credit-default-lr").first()
        if model is None:
            model = registry.model_create(
                actor=SYSTEM, use_case=use_case, key="credit-default-lr", name="Credit default logistic regression",
                description="Probability of default within 12 months.",
            )
            self.created.append("model:credit-scoring/credit-default-lr")
        if model.versions.exists():
            return
        train_version, test_version = datasets["credit-train"], datasets["credit-test"]
        pipeline, metrics = demo.train_credit_model(
            demo.Table(*_read_table(train_version)), demo.Table(*_read_table(test_version))
        )
        artifact = ContentFile(skops.io.dumps(pipeline), name="credit-default-lr.skops")
        version = registry.model_version_register(
            actor=SYSTEM,
            model=model,
            artifact=artifact,
            framework="scikit-learn",
            framework_version=sklearn.__version__,
            library_versions={name: importlib.metadata.version(name) for name in ("numpy", "scipy", "skops")},
            hyperparameters={"C": 1.0, "max_iter": 500, "scaler": "StandardScaler"},
            features=list(demo.CREDIT_FEATURES),
            intended_use="Decision support for consumer credit officers; scores are reviewed by a person.",
            out_of_scope_uses="Automated rejection without human review; business loans; fraud detection.",
            limitations="Trained on synthetic data; applicants over 65 are under-represented.",
            datasets=[
                registry.DatasetLink(dataset_version=train_version, role="train"),
                registry.DatasetLink(dataset_version=test_version, role="test"),
            ],
            claimed_metrics=[
                registry.MetricClaim(name=name, value=value, dataset_version=test_version, higher_is_better=True)
                for name, value in metrics.items()
            ],
            developers=[developer.username for developer in developers],
        )
        self.created.append(f"model version:{version}")
        # A staging deployment, so /lineage/ shows data -> model version -> deployment in the demo.
        registry.deployment_record(actor=SYSTEM, model_version=version, environment="staging")


    # --- a review with finished checks ---------------------------------------------------------------

    def _credit_review(self, users: dict[str, User], use_case: UseCase) -> None:
        """The submitter submits the credit model version for production review; its checks run here, in
        this process (not left to the worker), so the demo starts with a case whose results and SHAP
        plots are already on its page, awaiting the validator. The tasks the submission queues find the
        checks finished and do nothing."""
        from apps.reviews import services as reviews
        from apps.reviews.models import ReviewCase

        version = Model.objects.get(use_case=use_case, key="credit-default-lr").versions.order_by("number").first()
        if version is None or ReviewCase.objects.filter(model_version=version).exists():
            return
        reviews.policy_defaults_load()
        case = reviews.review_open(
            actor=users["submitter"], model_version=version, environment="production", label_column="defaulted",
            documentation={"human_oversight": "A credit officer reviews every score before the decision and may "
                                              "override it; overrides are logged and sampled monthly."},
        )
        case = reviews.review_checks_start(case=case)
        for result in case.check_results.order_by("kind"):
            reviews.check_run(check_result_id=result.pk)
        self.created.append(f"review:{case.pk} (checks finished)")


def _read_table(version: DatasetVersion) -> tuple[list[str], list[list[str]]]:
    """The columns and rows of a dataset version's stored CSV file."""
    import csv

    with version.file.open("rb") as stored:
        lines = io.TextIOWrapper(stored, encoding="utf-8", newline="")
        rows = list(csv.reader(lines))
    return rows[0], rows[1:]
