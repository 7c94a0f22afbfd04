import io

import pytest
from django.core.management import CommandError, call_command

from apps.accounts import keys
from apps.accounts.authentication import authenticate_api_key
from apps.accounts.models import ApiKey
from apps.audit.actions import Action
from apps.audit.models import AuditEntry
from tests.accounts.conftest import last_entry
from tests.factories.accounts import ServiceAccountFactory

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_key", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_api_key_prints_a_working_key_once_and_records_system_as_issuer():
    ServiceAccountFactory(name="ci-deploy")

    out, err = run("ci-deploy", "--expires-days", "30", "--label", "GitLab")

    plaintext = out.strip()
    api_key = ApiKey.objects.get()
    assert keys.parse_prefix(plaintext) == api_key.prefix
    assert authenticate_api_key(plaintext, at=api_key.created_at) == api_key
    assert 29 <= (api_key.expires_at - api_key.created_at).days <= 30
    assert api_key.label == "GitLab"
    assert plaintext not in err and "cannot show it again" in err
    entry = last_entry()
    assert entry.action == Action.ACCOUNTS_API_KEY_ISSUED and entry.actor_type == "system"


@pytest.mark.parametrize(
    ("args", "message"),
    [(["no-such-account"], "no service account named 'no-such-account'"),
     (["ci-deploy", "--expires-days", "0"], "positive number of days")],
    ids=["unknown-account", "zero-days"],
)
def test_create_api_key_refuses_bad_arguments_and_issues_nothing(args, message):
    ServiceAccountFactory(name="ci-deploy")

    with pytest.raises(CommandError, match=message):
        run(*args)

    assert not ApiKey.objects.exists() and not AuditEntry.objects.exists()


def test_create_api_key_refuses_a_deactivated_account():
    ServiceAccountFactory(name="old", is_active=False)

    with pytest.raises(CommandError, match="deactivated"):
        run("old")

    assert not ApiKey.objects.exists() and not AuditEntry.objects.exists()
