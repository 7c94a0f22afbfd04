"""Output shapes of the audit API. Hashes and canonical bytes are standard base64, as in C2SP formats."""

import base64

from rest_framework import serializers

from ..models import AuditEntry, Checkpoint, SigningKey


def b64(value) -> str:
    return base64.b64encode(bytes(value)).decode("ascii")


class AuditEntrySerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()
    subject = serializers.SerializerMethodField()
    encoded = serializers.SerializerMethodField(help_text="The canonical bytes (format v1), base64.")
    leaf_hash = serializers.SerializerMethodField(help_text="SHA-256(0x00 || encoded), base64.")

    class Meta:
        model = AuditEntry
        fields = ["index", "timestamp", "actor", "action", "subject", "data", "request_id", "format_version",
                  "encoded", "leaf_hash"]
        read_only_fields = fields

    def get_actor(self, entry) -> dict:
        return {"type": entry.actor_type, "id": entry.actor_id, "name": entry.actor_name}

    def get_subject(self, entry) -> dict:
        return {"type": entry.subject_type, "id": entry.subject_id, "label": entry.subject_label}

    def get_encoded(self, entry) -> str:
        return b64(entry.encoded)

    def get_leaf_hash(self, entry) -> str:
        return b64(entry.leaf_hash)


class CheckpointSerializer(serializers.ModelSerializer):
    root_hash = serializers.SerializerMethodField()
    key_id = serializers.CharField(source="signing_key.key_id", read_only=True)

    class Meta:
        model = Checkpoint
        fields = ["tree_size", "root_hash", "note", "key_id", "created_at"]
        read_only_fields = fields

    def get_root_hash(self, checkpoint) -> str:
        return b64(checkpoint.root_hash)


class SigningKeySerializer(serializers.ModelSerializer):
    class Meta:
        model = SigningKey
        fields = ["name", "key_id", "vkey", "valid_from", "valid_until"]
        read_only_fields = fields


# --- response shapes for the OpenAPI schema (the views build these bodies as plain dicts) ------------


class AuditEntryPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = AuditEntrySerializer(many=True)


class CheckpointPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = CheckpointSerializer(many=True)


class EntryWithProofSerializer(serializers.Serializer):
    entry = AuditEntrySerializer()
    checkpoint = CheckpointSerializer()
    inclusion_proof = serializers.ListField(child=serializers.CharField(), help_text="Base64 hashes, leaf first.")
    tlog_proof = serializers.CharField(help_text="The same proof as a C2SP tlog-proof text.")


class ConsistencyProofSerializer(serializers.Serializer):
    old_size = serializers.IntegerField()
    new_size = serializers.IntegerField()
    proof = serializers.ListField(child=serializers.CharField(), help_text="Base64 hashes.")
