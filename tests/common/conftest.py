"""The reviews fixtures (people, a classified use case, policies, a trained model version), shared with
the dashboard tests."""

from tests.reviews.conftest import (  # noqa: F401 - pytest fixtures
    admin_user,
    approver,
    default_policies,
    developer,
    model_version,
    open_case,
    submitter,
    team,
    use_case,
    validator,
    validator_and_approver,
)
