"""Annex IV technical documentation for a use case with 50 model versions and 10,000 audit entries.

Set-up (through the services, not timed): one classified high-risk use case; one model with 50 versions
(small skops logistic regressions, each linked to train/test dataset versions with full datasheets and
claimed metrics); a review of the latest version under the default high-risk policy with recorded check
results (fairness per group, performance, explainability), a finding, two signatures and an approval;
then audit entries about the use case until the log holds 10,000.

Timed: `report_generate` + `report_build` of the Annex IV for the latest version (as the Celery task
runs it: pin/sign the checkpoint, gather the facts, render the PDF with its table of contents, store,
record), and the same document regenerated from the same checkpoint (which must give the same bytes).
Printed beside the target of 5 s and the parts (facts, rendering).

    scripts/with-postgres.sh .venv/bin/python benchmarks/report_annex_iv.py [--versions 50] [--entries 10000]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")
os.environ.setdefault("DJANGO_MEDIA_ROOT", tempfile.mkdtemp(prefix="docket-bench-media-"))

TARGET_SECONDS = 5.0


def build_system(versions: int, entries: int):
    import datetime as dt

    import numpy as np
    import skops.io
    from django.core.files.base import ContentFile
    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone
    from guardian.shortcuts import assign_perm
    from sklearn.linear_model import LogisticRegression

    from apps.accounts.roles import Role
    from apps.audit.actions import Action
    from apps.audit.models import AuditEntry
    from apps.audit.services import SYSTEM, record
    from apps.registry import services as registry
    from apps.reports.documents.checklist import DOCUMENTATION_FIELDS
    from apps.reviews import services as reviews
    from apps.reviews.models import CheckStatus
    from tests.factories.accounts import TeamFactory, UserFactory
    from tests.factories.registry import DatasetFactory, ModelFactory, UseCaseFactory
    from tests.factories.reviews import full_datasheet
    from tests.reports.conftest import EXPLAINABILITY_METRICS, FAIRNESS_METRICS, PASSWORD, PERFORMANCE_METRICS

    call_command("load_reference_data", verbosity=0)
    reviews.policy_defaults_load()
    team = TeamFactory(key="credit-risk")
    developer = UserFactory(username="dev", roles=[Role.SUBMITTER], teams=[team])
    submitter = UserFactory(username="sub", roles=[Role.SUBMITTER], teams=[team])
    use_case = UseCaseFactory(key="credit-scoring", name="Credit scoring", owner_team=team,
                              affected_persons="Consumer credit applicants")
    registry.use_case_classify(actor=SYSTEM, use_case=use_case, art5_answers={k: False for k in "abcdefgh"},
                               annex_i_safety_component=False, annex_iii_code="III-5-b",
                               profiles_natural_persons=True, rationale="Annex III 5(b).")
    registry.use_case_set_risk_tier(actor=SYSTEM, use_case=use_case, tier="1", rationale="Material.")
    validator = UserFactory(username="val", first_name="Vera", last_name="Validator", roles=[Role.VALIDATOR])
    approver = UserFactory(username="app", first_name="Ada", last_name="Approver", roles=[Role.APPROVER])
    for reviewer in (validator, approver):
        assign_perm("registry.review_usecase", reviewer, use_case)
    model = ModelFactory(use_case=use_case, key="credit-default", name="Credit default")
    schema = [{"name": name, "type": "float"} for name in ("income", "debt_ratio")] + [
        {"name": "sex", "type": "string"}, {"name": "defaulted", "type": "integer"}]
    datasets = []
    for role in ("train", "test"):
        dataset = DatasetFactory(key=f"applications-{role}", owner_team=team)
        datasets.append(registry.dataset_version_register(
            actor=SYSTEM, dataset=dataset, content_sha256=f"{len(datasets):064x}", row_count=10_000,
            schema=schema, protected_attributes=["sex"], contains_personal_data=True, legal_basis="b",
            retention_until=timezone.localdate() + dt.timedelta(days=365), datasheet=full_datasheet()))
    rng = np.random.default_rng(0)
    version = None
    for number in range(versions):
        estimator = LogisticRegression().fit(rng.normal(size=(40, 2)), np.arange(40) % 2)
        version = registry.model_version_register(
            actor=developer, model=model, artifact=ContentFile(skops.io.dumps(estimator), name="model.skops"),
            framework="scikit-learn", intended_use="Decision support for credit officers.",
            limitations="Synthetic data.", out_of_scope_uses="Automated rejection.", features=["income", "debt_ratio"],
            training_code_repository="https://git.example.test/credit", training_code_commit=f"{number:040x}",
            hyperparameters={"C": 1.0}, parent=version,
            datasets=[registry.DatasetLink(dataset_version=datasets[0], role="train"),
                      registry.DatasetLink(dataset_version=datasets[1], role="test")],
            claimed_metrics=[registry.MetricClaim(name="accuracy", value=0.78, dataset_version=datasets[1],
                                                  higher_is_better=True)])
    case = reviews.review_open(actor=submitter, model_version=version, environment="production",
                               label_column="defaulted",
                               documentation={field: f"Documented {field}." for field in DOCUMENTATION_FIELDS})
    reviews.review_checks_start(case=case)
    metrics = {"fairness": FAIRNESS_METRICS, "performance": PERFORMANCE_METRICS,
               "explainability": EXPLAINABILITY_METRICS}
    for result in case.check_results.all():
        reviews.check_result_record(check_result_id=result.pk, outcome=reviews.CheckOutcome(
            status=CheckStatus.PASSED, summary="passed", metrics=metrics.get(result.kind, {"checked": True}),
            model_sha256=version.artifact_sha256), duration_seconds=0.1)
    reviews.review_validate(actor=validator, case=case, password=PASSWORD)
    reviews.review_approve(actor=approver, case=case, password=PASSWORD)
    with transaction.atomic():
        for number in range(entries - AuditEntry.objects.count()):
            record(actor=SYSTEM, action=Action.REGISTRY_USE_CASE_UPDATED, subject=use_case,
                   data={"changed": [], "before": {}, "after": {}, "filler": number})
    return submitter, version


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", type=int, default=50)
    parser.add_argument("--entries", type=int, default=10_000)
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0, stdout=io.StringIO())
    from apps.audit.models import AuditEntry
    from apps.reports import facts, services

    started = time.perf_counter()
    reader, version = build_system(args.versions, args.entries)
    print(f"set-up: {args.versions} versions, {AuditEntry.objects.count()} audit entries "
          f"in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    document = services.report_generate(actor=reader, kind="annex_iv", subject=version)
    document = services.report_build(document_id=document.pk)
    first = time.perf_counter() - started
    assert document.status == "done", document.error

    snap = facts.pin_snapshot(tree_size=document.checkpoint_tree_size)
    subject = facts.resolve_model_version(version.pk)
    started = time.perf_counter()
    gathered = services.document_facts(kind="annex_iv", subject=subject, parameters={}, reader=reader, snap=snap)
    facts_seconds = time.perf_counter() - started
    started = time.perf_counter()
    from apps.reports import documents

    documents.render("annex_iv", gathered, content_sha256=facts.content_sha256(gathered))
    render_seconds = time.perf_counter() - started

    started = time.perf_counter()
    again = services.report_generate(actor=reader, kind="annex_iv", subject=version,
                                     checkpoint_tree_size=document.checkpoint_tree_size)
    again = services.report_build(document_id=again.pk)
    second = time.perf_counter() - started
    assert again.sha256 == document.sha256, "regenerating from the same checkpoint changed the bytes"

    print(f"\nAnnex IV, {args.versions} versions, {args.entries} entries        seconds   target")
    print(f"  request + build (signs the checkpoint first)  {first:8.2f}   <= {TARGET_SECONDS:.0f}")
    print(f"  regenerated from the same checkpoint          {second:8.2f}   <= {TARGET_SECONDS:.0f}  "
          f"(same SHA-256: yes)")
    print(f"    of which: facts {facts_seconds:.2f} s, rendering {render_seconds:.2f} s; "
          f"PDF {document.size:,} bytes")
    print(f"  database: {connection.settings_dict['NAME']}")


if __name__ == "__main__":
    main()
