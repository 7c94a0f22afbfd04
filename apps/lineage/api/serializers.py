"""Input and output shapes of the lineage API."""

from __future__ import annotations

from rest_framework import serializers

from ..models import DatasetMapping, Inquiry, InquiryKind


class IngestedOut(serializers.Serializer):
    event = serializers.IntegerField(help_text="Id of the stored event.")
    created = serializers.BooleanField(help_text="False when this delivery repeated a stored event (nothing new).")
    run_id = serializers.CharField()
    event_type = serializers.CharField()
    body_sha256 = serializers.CharField()


class InquiryIn(serializers.Serializer):
    kind = serializers.ChoiceField(choices=InquiryKind.choices)
    requester = serializers.CharField(max_length=300, help_text="Who outside asked (and their reference).")
    reason = serializers.CharField(help_text="Why the inquiry is run.")
    parameters = serializers.DictField(help_text="As for the query endpoint of the kind: e.g. {\"model_version\": 3, "
                                                 "\"depth\": 3, \"as_of\": \"2026-03-03T00:00:00Z\"}.")


class InquiryOut(serializers.ModelSerializer):
    asked_by = serializers.CharField(source="asked_by.username")
    pdf_available = serializers.SerializerMethodField()

    class Meta:
        model = Inquiry
        fields = ["id", "kind", "asked_by", "requester", "reason", "parameters", "answer", "answer_sha256",
                  "checkpoint_tree_size", "checkpoint_root_hash", "created_at", "pdf_sha256", "pdf_available"]

    def get_pdf_available(self, inquiry: Inquiry) -> bool:
        return bool(inquiry.pdf_sha256)


class MappingIn(serializers.Serializer):
    namespace_pattern = serializers.CharField(max_length=300)
    name_pattern = serializers.CharField(max_length=300)
    dataset = serializers.SlugField(max_length=64, help_text="The Docket dataset key.")
    priority = serializers.IntegerField(default=100, min_value=-1000000, max_value=1000000)


class MappingOut(serializers.ModelSerializer):
    dataset = serializers.CharField(source="dataset.key")

    class Meta:
        model = DatasetMapping
        fields = ["id", "namespace_pattern", "name_pattern", "dataset", "priority", "active", "created_at"]


class NodeOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    label = serializers.CharField()
    reference = serializers.DictField(allow_null=True)
