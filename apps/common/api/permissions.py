"""Permission defaults for Docket's API views."""

from rest_framework.permissions import IsAuthenticated

from apps.accounts.permissions import HasScope
from apps.accounts.scopes import Scope


class ScopedAPIViewMixin:
    """Signed-in callers only; API keys need `required_scopes` (reads need `read` unless a view says otherwise)."""

    permission_classes = [IsAuthenticated, HasScope]
    required_scopes: dict | list = {"GET": [Scope.READ], "HEAD": [Scope.READ], "OPTIONS": [], "*": [Scope.REGISTRY_WRITE]}
