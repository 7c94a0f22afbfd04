"""Input and output shapes of the accounts API."""

from rest_framework import serializers

from apps.accounts.scopes import Scope
from apps.common.api.serializers import StrictInputSerializer


class ApiKeyOut(serializers.Serializer):
    prefix = serializers.CharField(source="display_prefix")
    label = serializers.CharField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    revocation_reason = serializers.CharField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    status = serializers.SerializerMethodField()

    def get_status(self, api_key) -> str:
        return api_key.status(self.context["now"])


class IssuedApiKeyOut(ApiKeyOut):
    key = serializers.CharField(help_text="The API key. Shown this once; Docket keeps only its hash.")


class ServiceAccountOut(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    team = serializers.SerializerMethodField()
    scopes = serializers.ListField(child=serializers.CharField())
    allowed_use_cases = serializers.SerializerMethodField()
    is_active = serializers.BooleanField()
    deactivated_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()

    def get_team(self, account) -> str | None:
        return None if account.team is None else account.team.key

    def get_allowed_use_cases(self, account) -> list[str]:
        return sorted(use_case.key for use_case in account.allowed_use_cases.all())


class ServiceAccountCreateIn(StrictInputSerializer):
    name = serializers.CharField(max_length=64)
    team = serializers.CharField(required=False, allow_null=True, default=None, help_text="Team key.")
    description = serializers.CharField(required=False, allow_blank=True, default="")
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=Scope.choices), min_length=1)
    allowed_use_cases = serializers.ListField(child=serializers.CharField(), required=False, default=list,
                                              help_text="Use-case keys; empty means no restriction.")


class ReasonIn(StrictInputSerializer):
    reason = serializers.CharField()


class OptionalReasonIn(StrictInputSerializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class ApiKeyIssueIn(StrictInputSerializer):
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    label = serializers.CharField(required=False, allow_blank=True, max_length=100, default="")


class MeOut(serializers.Serializer):
    username = serializers.CharField()
    display_name = serializers.CharField()
    kind = serializers.CharField()
    roles = serializers.ListField(child=serializers.CharField())
    teams = serializers.ListField(child=serializers.CharField())
    service_account = serializers.CharField(allow_null=True)
    scopes = serializers.ListField(child=serializers.CharField(), allow_null=True)
    allowed_use_cases = serializers.ListField(child=serializers.CharField(), allow_null=True)
    api_key = serializers.CharField(allow_null=True, help_text="Prefix of the key this request used.")
    api_key_expires_at = serializers.DateTimeField(allow_null=True)
