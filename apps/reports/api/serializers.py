"""Input and output of the reports API."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.common.api.serializers import StrictInputSerializer

from ..models import DocumentKind, DocumentStatus, GeneratedDocument


class ReportRequestIn(StrictInputSerializer):
    """What to generate. The fields naming the subject depend on `kind`: `use_case`, `model`, `version`
    (annex_iv, model_card); `review` (validation_report); `use_case` or `review` (evidence_pack); none
    (model_inventory); `subject_type` + `subject_id` and/or `since`/`until` (audit_extract)."""

    kind = serializers.ChoiceField(choices=DocumentKind.choices)
    use_case = serializers.SlugField(required=False)
    model = serializers.SlugField(required=False)
    version = serializers.IntegerField(required=False, min_value=1)
    review = serializers.IntegerField(required=False, min_value=1)
    subject_type = serializers.CharField(required=False, max_length=100)
    subject_id = serializers.CharField(required=False, max_length=100)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    checkpoint = serializers.IntegerField(required=False, min_value=1,
                                          help_text="Tree size of the signed checkpoint the document must reflect.")


class ReportSubjectOut(serializers.Serializer):
    type = serializers.CharField()
    id = serializers.CharField()
    label = serializers.CharField()


class ReportOut(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    kind = serializers.ChoiceField(choices=DocumentKind.choices)
    status = serializers.ChoiceField(choices=DocumentStatus.choices)
    progress = serializers.IntegerField()
    progress_message = serializers.CharField()
    error = serializers.CharField()
    subject = serializers.SerializerMethodField()
    parameters = serializers.JSONField()
    requested_by = serializers.SerializerMethodField()
    requested_at = serializers.DateTimeField()
    generated_at = serializers.DateTimeField(allow_null=True)
    file_name = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField(allow_null=True)
    sha256 = serializers.CharField()
    content_sha256 = serializers.CharField()
    checkpoint_tree_size = serializers.IntegerField(allow_null=True)
    audit_index_first = serializers.IntegerField(allow_null=True)
    audit_index_last = serializers.IntegerField(allow_null=True)
    audit_index = serializers.IntegerField(allow_null=True, help_text="Index of the reports.document.generated entry.")
    download = serializers.SerializerMethodField()

    @extend_schema_field(ReportSubjectOut(allow_null=True))
    def get_subject(self, document: GeneratedDocument) -> dict | None:
        if not document.subject_type:
            return None
        return {"type": document.subject_type, "id": document.subject_id, "label": document.subject_label}

    def get_requested_by(self, document: GeneratedDocument) -> str | None:
        return document.requested_by.get_username() if document.requested_by_id else None

    def get_download(self, document: GeneratedDocument) -> str | None:
        if document.status != DocumentStatus.DONE:
            return None
        return reverse("api:reports:report-download", args=[document.pk])
