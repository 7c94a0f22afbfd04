import pytest

# The audit log's TRUNCATE triggers are lifted only for Django's flush after transactional tests.
from tests.audit.fixtures import _audit_truncate_triggers  # noqa: F401
from tests.people import admin_user, auditor, other_team, outsider, submitter, team  # noqa: F401


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    """Every test writes uploaded files to its own directory."""
    settings.MEDIA_ROOT = tmp_path / "media"
