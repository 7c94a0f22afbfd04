"""Bearer API-key authentication for service accounts (being built; see the accounts brief)."""

from rest_framework.authentication import BaseAuthentication


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request):
        return None
