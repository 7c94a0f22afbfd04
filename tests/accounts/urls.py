"""Tiny API views used only by the accounts tests, to exercise authentication and permissions."""

from django.urls import path
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import ApiKey
from apps.accounts.permissions import HasScope, can_view_use_case, require_scope
from apps.accounts.scopes import Scope


class WhoAmI(APIView):
    permission_classes = [IsAuthenticated]

    def get(self, request):
        key = request.auth.display_prefix if isinstance(request.auth, ApiKey) else None
        return Response({"username": request.user.username, "key": key})


class GateCheck(APIView):
    permission_classes = [IsAuthenticated, require_scope(Scope.GATE_CHECK)]

    def post(self, request):
        return Response({"decision": "allow"})


class Registry(APIView):
    permission_classes = [IsAuthenticated, HasScope]
    required_scopes = {"GET": [Scope.READ], "*": [Scope.REGISTRY_WRITE]}

    def get(self, request):
        return Response({"read": True})

    def post(self, request):
        return Response({"written": True}, status=201)


class UseCaseDetail(APIView):
    permission_classes = [IsAuthenticated]

    def get(self, request, key):
        from apps.registry.models import UseCase

        use_case = UseCase.objects.filter(key=key).first()
        if use_case is None or not can_view_use_case(request.user, use_case, auth=request.auth):
            raise NotFound()
        return Response({"key": use_case.key})


urlpatterns = [
    path("whoami", WhoAmI.as_view()),
    path("gate-check", GateCheck.as_view()),
    path("registry", Registry.as_view()),
    path("use-cases/<slug:key>", UseCaseDetail.as_view()),
]
