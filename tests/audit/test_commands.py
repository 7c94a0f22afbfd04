import io
import stat

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.accounts.roles import Role
from apps.audit import services, signing
from apps.audit.actions import Action
from apps.audit.models import AuditEntry, Checkpoint, SigningKey
from apps.audit.verifier import open_note, parse_vkey
from tests.audit.logdata import append_entries
from tests.factories.accounts import UserFactory

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command("audit", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_init_key_writes_an_owner_only_key_file_and_refuses_to_overwrite_it(tmp_path, settings):
    settings.DOCKET_AUDIT_SIGNING_KEY = None
    path = tmp_path / "audit.key"
    output = run("init-key", "--key-file", str(path))
    signer = signing.parse_signer_key(path.read_text())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert signer.name == settings.DOCKET_AUDIT_ORIGIN and signer.vkey in output
    with pytest.raises(CommandError, match="refusing to overwrite"):
        run("init-key", "--key-file", str(path))
    assert signing.parse_signer_key(path.read_text()).key_id == signer.key_id


def test_checkpoint_command_prints_the_signed_note(signing_key_file):
    append_entries(4)
    note = run("checkpoint")
    assert note == Checkpoint.objects.get().note
    open_note(note, [parse_vkey(signing.load_signer().vkey)])


def test_rotate_key_installs_the_new_key_and_publishes_both(signing_key_file, settings):
    append_entries(2)
    services.checkpoint_sign()
    old = signing.load_signer()
    admin = UserFactory(roles=[Role.ADMIN])
    output = run("rotate-key", "--actor", admin.username)
    new = signing.load_signer()
    assert new.key_id != old.key_id and new.vkey in output
    assert stat.S_IMODE(signing_key_file.stat().st_mode) == 0o600
    assert not signing_key_file.with_name(signing_key_file.name + ".new").exists()
    keys = run("keys").strip().split("\n")
    assert [line.split("\t")[0] for line in keys] == [old.vkey, new.vkey]
    assert keys[0].split("\t")[2] != "current" and keys[1].split("\t")[2] == "current"
    rotated = AuditEntry.objects.order_by("-index").first()
    assert rotated.action == Action.AUDIT_SIGNING_KEY_ROTATED and rotated.actor_id == str(admin.pk)
    assert services.checkpoint_sign().signing_key.key_id == new.key_id.hex()
    assert "OK:" in run("verify")


def test_rotate_key_refused_for_a_non_admin_changes_nothing(signing_key_file):
    append_entries(1)
    services.checkpoint_sign()
    before = signing_key_file.read_text()
    with pytest.raises(CommandError, match="Only administrators"):
        run("rotate-key", "--actor", UserFactory(roles=[Role.SUBMITTER]).username)
    assert signing_key_file.read_text() == before
    assert not signing_key_file.with_name(signing_key_file.name + ".new").exists()
    assert SigningKey.objects.get().valid_until is None and AuditEntry.objects.count() == 1


def test_verify_reports_ok_with_counts(signing_key_file):
    append_entries(9)
    services.checkpoint_sign()
    assert run("verify").startswith("OK: 9 entries, 16 tree nodes, 1 checkpoints (latest covers 9)")


def test_production_without_a_key_is_a_clear_error(settings, tmp_path):
    settings.DOCKET_AUDIT_SIGNING_KEY = None
    settings.DOCKET_AUDIT_SIGNING_KEY_FILE = str(tmp_path / "missing.key")
    settings.DOCKET_AUDIT_AUTOCREATE_KEY = False
    append_entries(1)
    with pytest.raises(CommandError, match="No audit signing key"):
        run("checkpoint")
    assert Checkpoint.objects.count() == 0
