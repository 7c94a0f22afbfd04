"""Schemathesis over the whole API: generated requests against the live schema find no 5xx and no
response that breaks the schema (an undocumented status code, a body that does not match, a wrong
content type), and invalid requests are refused with a 4xx.

The schema is the one `/api/schema/` serves to a signed-in administrator. Requests go through the WSGI
application in-process, signed in with that administrator's session and its CSRF token (a schemathesis
auth provider), so writes reach the services. Path parameters, and in valid (positive) cases the body
fields that name other objects, point at seeded objects, so each operation reaches its real handler
rather than stopping at 404 or "no such team"; everything else is generated, first valid for the schema
(positive), then invalid (negative). Each case runs in a savepoint that is rolled back, so one case's
writes do not change what the next one sees. All of schemathesis' default checks run.

Bounded: `EXAMPLES` cases per operation and mode, derandomized (the same cases on every run of the
same code), so the file takes under a minute on two cores.
"""

from __future__ import annotations

import time
from collections import Counter

import hypothesis
import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from django.middleware.csrf import get_token
from django.test import Client, RequestFactory
from hypothesis import HealthCheck
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok

from apps.accounts import services as account_services
from apps.accounts.roles import Role
from apps.accounts.scopes import Scope
from apps.audit import services as audit_services
from apps.audit.models import AuditEntry
from tests.factories.accounts import TeamFactory, UserFactory
from tests.factories.registry import (
    DatasetFactory,
    DatasetVersionFactory,
    DeploymentFactory,
    ModelFactory,
    ModelVersionFactory,
    UseCaseFactory,
)

EXAMPLES = {GenerationMode.POSITIVE: 10, GenerationMode.NEGATIVE: 5}
TIME_BUDGET_SECONDS = 100

TEAM, ADMIN, USE_CASE, MODEL, DATASET, SERVICE_ACCOUNT = (
    "credit-risk", "ada-admin", "credit-scoring", "default-lr", "loans", "training-pipeline"
)
# The parts of the API the seeded objects serve (others, e.g. reviews, are exercised without a 2xx promise).
SEEDED_PATHS = tuple(f"/api/v1/{part}" for part in (
    "me/", "use-cases/", "models/", "model-versions/", "datasets/", "deployments/", "service-accounts/", "audit/"))
# Body fields naming other objects, set to seeded ones in valid cases.
BODY_REFERENCES = {
    "owner_team": TEAM, "team": TEAM, "business_owner": ADMIN, "use_case": USE_CASE, "model": MODEL,
    "version": 1, "environment": "staging", "allowed_use_cases": [USE_CASE],
}


@pytest.fixture
def seeded(db):
    """A team, its use case, model and version, a dataset version, a deployment, a service account with
    an API key, audit entries and a signed checkpoint, and an administrator (also a team member) signed
    in with a session."""
    team = TeamFactory(key=TEAM)
    admin = UserFactory(username=ADMIN, roles=[Role.ADMIN], teams=[team])
    use_case = UseCaseFactory(key=USE_CASE, owner_team=team)
    model = ModelFactory(use_case=use_case, key=MODEL)
    version = ModelVersionFactory(model=model, number=1)
    dataset = DatasetFactory(key=DATASET, owner_team=team)
    DatasetVersionFactory(dataset=dataset, number=1)
    deployment = DeploymentFactory(model_version=version)
    account = account_services.service_account_create(
        actor=admin, name=SERVICE_ACCOUNT, team=team, description="Nightly training.",
        scopes=[str(scope) for scope in Scope], allowed_use_cases=[],
    )
    api_key, _ = account_services.api_key_issue(actor=admin, service_account=account)
    audit_services.checkpoint_sign(actor=admin)

    client = Client()
    client.force_login(admin)
    return {
        "cookies": {"sessionid": client.cookies["sessionid"].value, "csrftoken": get_token(RequestFactory().get("/"))},
        "path": {
            "use_case": use_case.key,
            "model": model.key,
            "number": version.number,
            "id": deployment.pk,
            "name": account.name,
            "prefix": api_key.display_prefix,
            "index": AuditEntry.objects.order_by("index").values_list("index", flat=True).first(),
        },
    }


@pytest.fixture
def keep_test_connection():
    """As Django's test client does: the WSGI handler must not close the connection that holds the test's
    transaction when a request starts or finishes."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def admin_session(cookies: dict) -> type:
    """A schemathesis auth provider sending the seeded administrator's session cookie and CSRF token
    (in place of the security parameters schemathesis would otherwise generate)."""

    class AdminSession:
        def get(self, case, context):
            return cookies

        def set(self, case, data, context):
            headers = {name: value for name, value in (case.headers or {}).items() if name.lower() != "authorization"}
            case.headers = {**headers, "X-CSRFToken": data["csrftoken"]}
            case.cookies = dict(data)

    return AdminSession


def _mode(case, location: str) -> GenerationMode | None:
    component = case.meta.components.get(location) if case.meta else None
    return None if component is None else component.mode


def point_at_seeded_objects(case, seeded) -> None:
    """Replaces generated path parameters with the keys of seeded objects (`key` names a dataset under
    /datasets/ and a use case elsewhere), and in a valid body the fields naming other objects; a
    component generated invalid on purpose is left as it is."""
    if case.path_parameters and _mode(case, "path") is not GenerationMode.NEGATIVE:
        values = dict(seeded["path"], key=DATASET if case.path.startswith("/api/v1/datasets/") else USE_CASE)
        case.path_parameters = {name: values.get(name, value) for name, value in case.path_parameters.items()}
    if isinstance(case.body, dict) and _mode(case, "body") is GenerationMode.POSITIVE:
        case.body = {name: BODY_REFERENCES.get(name, value) if not _is_file(value) else value
                     for name, value in case.body.items()}


def _is_file(value) -> bool:
    return isinstance(value, bytes)


def exercise(operation, mode: GenerationMode, seeded, statuses: Counter) -> dict[tuple, str]:
    """Runs `operation` with generated cases of `mode`, counting answers by (operation, status) in
    `statuses`; returns the first report of each distinct failure by (operation, mode, failure title)."""
    failures: dict[tuple, str] = {}

    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis.settings(
        max_examples=EXAMPLES[mode], deadline=None, derandomize=True, database=None,
        suppress_health_check=list(HealthCheck), phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    def run(case):
        point_at_seeded_objects(case, seeded)
        with transaction.atomic():
            try:
                response = case.call()
                statuses[operation.label, response.status_code // 100] += 1
                case.validate_response(response)
            except FailureGroup as group:
                for failure in group.exceptions:
                    failures.setdefault((operation.label, mode.value, failure.title), group.message)
            finally:
                transaction.set_rollback(True)

    run()
    return failures


def test_every_operation_answers_as_the_schema_says(seeded, keep_test_connection):
    started = time.monotonic()
    cookies = seeded["cookies"]
    schema = schemathesis.openapi.from_wsgi(
        "/api/schema/", get_wsgi_application(),
        headers={"Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items())},
    )
    schema.auth(refresh_interval=None)(admin_session(cookies))
    operations = [result.ok() for result in schema.get_all_operations() if isinstance(result, Ok)]
    assert len(operations) >= 45, [operation.label for operation in operations]

    failures, statuses = {}, Counter()
    for operation in operations:
        for mode in EXAMPLES:
            failures.update(exercise(operation, mode, seeded, statuses))

    summary = "\n".join(" | ".join(key) for key in failures)
    assert not failures, f"{len(failures)} distinct failures:\n{summary}\n\n" + "\n".join(failures.values())
    # The run reached the handlers: the seeded reads (but consistency proofs, whose random tree sizes
    # rarely name a checkpoint) and writes whose every field is optional answered 2xx at least once.
    # A broken sign-in or CSRF token would answer 401/403 everywhere, which the schema allows.
    succeeded = {label for (label, kind), _ in statuses.items() if kind == 2}
    reads = {operation.label for operation in operations
             if operation.method.upper() == "GET" and operation.path.startswith(SEEDED_PATHS)}
    must_succeed = reads - {"GET /api/v1/audit/proofs/consistency"} | {
        "PATCH /api/v1/use-cases/{key}/", "POST /api/v1/service-accounts/{name}/keys/",
        "POST /api/v1/service-accounts/{name}/deactivate/", "POST /api/v1/audit/checkpoints",
    }
    assert must_succeed <= succeeded, sorted(must_succeed - succeeded)
    assert time.monotonic() - started < TIME_BUDGET_SECONDS
