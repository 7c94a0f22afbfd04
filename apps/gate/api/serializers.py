"""Gate API input and output shapes."""

from __future__ import annotations

from rest_framework import serializers

from apps.common.api.serializers import JSONValueField, StrictInputSerializer


class GateCheckIn(StrictInputSerializer):
    model = serializers.CharField(max_length=200, help_text="<use-case>/<model>, e.g. credit-scoring/default-lr.")
    version = serializers.IntegerField(min_value=1, max_value=2_147_483_647)
    artifact_sha256 = serializers.CharField(max_length=71, help_text="64 hex digits (a sha256: prefix is allowed).")
    environment = serializers.CharField(max_length=64)
    context = JSONValueField(kind=dict, required=False, default=dict,
                             help_text="Pipeline context recorded with the decision: pipeline, run_url, commit, ...")


class ReasonOut(serializers.Serializer):
    code = serializers.CharField(help_text="Stable reason code (docs/gate.md).")
    detail = serializers.CharField()


class GateDecisionOut(serializers.Serializer):
    """The gate's answer; also the body of its 503 (a deny with internal_error)."""

    decision = serializers.ChoiceField(choices=["allow", "deny"])
    reasons = ReasonOut(many=True)
    decision_id = serializers.CharField(allow_null=True)
    model = serializers.CharField()
    version = serializers.IntegerField()
    artifact_sha256 = serializers.CharField()
    environment = serializers.CharField()
    decided_at = serializers.CharField()
    approval = serializers.DictField(allow_null=True, help_text="The approval relied on: signers, expiry, conditions.")
    rollback_to = serializers.DictField(allow_null=True,
                                        help_text="On deny: the last still-valid approved version of the model.")
    policy = serializers.DictField()
    audit_index = serializers.IntegerField(allow_null=True)
    checkpoint = serializers.DictField(allow_null=True)
    attestation = serializers.DictField(allow_null=True, help_text="DSSE envelope of an in-toto Statement v1.")


class ApprovalRevokeIn(StrictInputSerializer):
    reason = serializers.CharField()


class ApprovalOut(serializers.Serializer):
    id = serializers.IntegerField()
    use_case = serializers.CharField(source="model_version.model.use_case.key")
    model = serializers.CharField(source="model_version.model.key")
    version = serializers.IntegerField(source="model_version.number")
    artifact_sha256 = serializers.CharField()
    environment = serializers.CharField()
    review_case = serializers.IntegerField(source="case_id")
    approved_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    conditions = serializers.ListField(child=serializers.CharField())
    revoked_at = serializers.DateTimeField(allow_null=True)
    revocation_reason = serializers.CharField()


class OverrideGrantIn(StrictInputSerializer):
    use_case = serializers.CharField()
    model = serializers.CharField()
    version = serializers.IntegerField(min_value=1, max_value=2_147_483_647)
    environment = serializers.CharField(max_length=64)
    rationale = serializers.CharField()


class OverrideOut(serializers.Serializer):
    id = serializers.IntegerField()
    use_case = serializers.CharField(source="model_version.model.use_case.key")
    model = serializers.CharField(source="model_version.model.key")
    version = serializers.IntegerField(source="model_version.number")
    environment = serializers.CharField()
    rationale = serializers.CharField()
    granted_by = serializers.CharField(source="granted_by.username")
    granted_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()


class AttestationKeyOut(serializers.Serializer):
    name = serializers.CharField()
    key_id = serializers.CharField(help_text="8 hex digits; the DSSE keyid of attestations it signs.")
    vkey = serializers.CharField(help_text="C2SP verifier key <name>+<key id>+<base64(0x01 || public key)>.")
    public_key = serializers.CharField(help_text="The raw 32-byte Ed25519 public key, base64.")
    algorithm = serializers.CharField()
    payload_type = serializers.CharField()
    predicate_type = serializers.CharField()
