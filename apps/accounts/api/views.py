"""Accounts endpoints: who am I, and service accounts with their API keys (administrators)."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from apps.accounts import selectors, services
from apps.accounts.models import ApiKey, ServiceAccount, Team
from apps.accounts.permissions import api_key_of
from apps.accounts.scopes import Scope
from apps.common.api.pagination import DocketCursorPagination, OldestFirstCursorPagination
from apps.common.api.permissions import ScopedAPIViewMixin
from apps.common.api.schema import problems
from apps.common.errors import NotFound, ValidationFailed
from apps.registry.models import UseCase

from . import serializers as s

ERRORS = problems(400, 401, 403, 404, 409)
# Only administrators (people) may manage accounts; the services refuse everyone else, keys included.
ADMIN_SCOPES = {"GET": [Scope.READ], "HEAD": [Scope.READ], "OPTIONS": [], "*": []}


class AccountsView(ScopedAPIViewMixin, GenericAPIView):
    parser_classes = [JSONParser]
    required_scopes = ADMIN_SCOPES

    def parse(self, serializer_class):
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def service_account(self, name: str) -> ServiceAccount:
        found = selectors.service_account_list(fetched_by=self.request.user).filter(name=name).first()
        if found is None:
            raise NotFound(f"There is no service account named {name!r}.")
        return found

    def api_key(self, account: ServiceAccount, prefix: str) -> ApiKey:
        prefix = prefix.removeprefix("dkt_")
        found = selectors.api_key_list(fetched_by=self.request.user, service_account=account).filter(
            prefix=prefix
        ).first() if "\x00" not in prefix else None  # PostgreSQL text cannot hold a NUL: no such key
        if found is None:
            raise NotFound(f"The service account {account.name} has no key dkt_{prefix}.")
        return found

    def key_context(self) -> dict:
        return {"now": timezone.now()}


class MeView(AccountsView):
    """The signed-in principal: a person (session) or a service account (API key)."""

    serializer_class = s.MeOut
    required_scopes: list = []

    @extend_schema(operation_id="me_retrieve", responses={200: s.MeOut, **problems(401)})
    def get(self, request):
        user = request.user
        api_key = api_key_of(request.auth)
        account = getattr(user, "service_account", None) if user.is_service_account else None
        return Response(s.MeOut({
            "username": user.username,
            "display_name": user.display_name,
            "kind": user.kind,
            "roles": [role.value for role in selectors.user_roles(user)],
            "teams": list(selectors.user_teams(user).values_list("key", flat=True)),
            "service_account": account.name if account else None,
            "scopes": list(account.scopes) if account else None,
            "allowed_use_cases": sorted(account.allowed_use_cases.values_list("key", flat=True)) if account else None,
            "api_key": api_key.display_prefix if api_key else None,
            "api_key_expires_at": api_key.expires_at if api_key else None,
        }).data)


class ServiceAccountListView(AccountsView):
    serializer_class = s.ServiceAccountOut
    pagination_class = OldestFirstCursorPagination

    @extend_schema(operation_id="service_accounts_list", responses={200: s.ServiceAccountOut(many=True), **ERRORS})
    def get(self, request):
        queryset = selectors.service_account_list(fetched_by=request.user)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(s.ServiceAccountOut(page, many=True).data)

    @extend_schema(operation_id="service_accounts_create", request=s.ServiceAccountCreateIn,
                   responses={201: s.ServiceAccountOut, **ERRORS})
    def post(self, request):
        data = self.parse(s.ServiceAccountCreateIn)
        team = None
        if data["team"]:
            team = Team.objects.filter(key=data["team"]).first()
            if team is None:
                message = f"There is no team with the key {data['team']!r}."
                raise ValidationFailed(message, field_errors={"team": [message]})
        wanted = list(dict.fromkeys(data["allowed_use_cases"]))
        use_cases = list(UseCase.objects.filter(key__in=wanted))
        missing = sorted(set(wanted) - {use_case.key for use_case in use_cases})
        if missing:
            message = f"Unknown use cases: {', '.join(missing)}."
            raise ValidationFailed(message, field_errors={"allowed_use_cases": [message]})
        account = services.service_account_create(
            actor=request.user, name=data["name"], team=team, description=data["description"],
            scopes=data["scopes"], allowed_use_cases=use_cases,
        )
        return Response(s.ServiceAccountOut(account).data, status=status.HTTP_201_CREATED,
                        headers={"Location": f"/api/v1/service-accounts/{account.name}/"})


class ServiceAccountDetailView(AccountsView):
    serializer_class = s.ServiceAccountOut

    @extend_schema(operation_id="service_accounts_retrieve", responses={200: s.ServiceAccountOut, **ERRORS})
    def get(self, request, name: str):
        return Response(s.ServiceAccountOut(self.service_account(name)).data)


class ServiceAccountDeactivateView(AccountsView):
    serializer_class = s.ServiceAccountOut

    @extend_schema(operation_id="service_accounts_deactivate", request=s.OptionalReasonIn,
                   responses={200: s.ServiceAccountOut, **ERRORS})
    def post(self, request, name: str):
        account = self.service_account(name)
        data = self.parse(s.OptionalReasonIn)
        account = services.service_account_deactivate(actor=request.user, service_account=account, **data)
        return Response(s.ServiceAccountOut(account).data)


class ApiKeyListView(AccountsView):
    serializer_class = s.ApiKeyOut
    pagination_class = DocketCursorPagination

    @extend_schema(operation_id="api_keys_list", responses={200: s.ApiKeyOut(many=True), **ERRORS})
    def get(self, request, name: str):
        account = self.service_account(name)
        page = self.paginate_queryset(selectors.api_key_list(fetched_by=request.user, service_account=account))
        return self.get_paginated_response(s.ApiKeyOut(page, many=True, context=self.key_context()).data)

    @extend_schema(operation_id="api_keys_issue", request=s.ApiKeyIssueIn,
                   responses={201: s.IssuedApiKeyOut, **ERRORS})
    def post(self, request, name: str):
        account = self.service_account(name)
        data = self.parse(s.ApiKeyIssueIn)
        api_key, plaintext = services.api_key_issue(actor=request.user, service_account=account, **data)
        api_key.key = plaintext
        body = s.IssuedApiKeyOut(api_key, context=self.key_context()).data
        # The plaintext is in this response only: no cache may keep it.
        return Response(body, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})


class ApiKeyRevokeView(AccountsView):
    serializer_class = s.ApiKeyOut

    @extend_schema(operation_id="api_keys_revoke", request=s.ReasonIn, responses={200: s.ApiKeyOut, **ERRORS})
    def post(self, request, name: str, prefix: str):
        api_key = self.api_key(self.service_account(name), prefix)
        data = self.parse(s.ReasonIn)
        api_key = services.api_key_revoke(actor=request.user, api_key=api_key, reason=data["reason"])
        return Response(s.ApiKeyOut(api_key, context=self.key_context()).data)
