import pytest


@pytest.fixture
def signing_key_file(settings, tmp_path):
    """Each test that needs its own checkpoint key gets a fresh auto-created key file."""
    settings.DOCKET_AUDIT_SIGNING_KEY = None
    settings.DOCKET_AUDIT_SIGNING_KEY_FILE = str(tmp_path / "keys" / "audit-signing.key")
    settings.DOCKET_AUDIT_AUTOCREATE_KEY = True
    return tmp_path / "keys" / "audit-signing.key"
