"""Input and output shapes of the reviews API. Output serializers never write; input serializers only
parse and type-check, and the services decide the rest."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.common.api.serializers import JSONValueField, StrictInputSerializer
from apps.reviews.models import CheckKind, FindingSeverity, SignatureMeaning


def _username(user) -> str | None:
    return None if user is None else user.username


def case_path(case_id: int) -> str:
    return f"/api/v1/reviews/{case_id}/"


# --- output -----------------------------------------------------------------------------------------


class RiskAcceptanceOut(serializers.Serializer):
    rationale = serializers.CharField()
    accepted_by = serializers.CharField(source="accepted_by.username")
    accepted_by_name = serializers.CharField(source="accepted_by.display_name")
    accepted_at = serializers.DateTimeField()


def _risk_acceptance(result) -> dict | None:
    acceptance = getattr(result, "risk_acceptance", None)
    return None if acceptance is None else RiskAcceptanceOut(acceptance).data


class CheckSummaryOut(serializers.Serializer):
    """A check as the case shows it: status and progress, and a risk acceptance where there is one."""

    kind = serializers.CharField()
    status = serializers.CharField()
    progress = serializers.IntegerField(help_text="Percent done (display only).")
    progress_message = serializers.CharField()
    summary = serializers.CharField()
    risk_acceptance = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    @extend_schema_field(RiskAcceptanceOut(allow_null=True))
    def get_risk_acceptance(self, result) -> dict | None:
        return _risk_acceptance(result)

    def get_url(self, result) -> str:
        return f"{case_path(result.case_id)}checks/{result.kind}/"


class CheckPlotOut(serializers.Serializer):
    name = serializers.CharField()
    sha256 = serializers.CharField()
    url = serializers.SerializerMethodField(help_text="Streams the PNG.")

    def get_url(self, plot) -> str:
        return f"{case_path(plot.check_result.case_id)}checks/{plot.check_result.kind}/plots/{plot.name}/"


class CheckResultOut(CheckSummaryOut):
    """Everything needed to read and reproduce one check: numbers, thresholds applied, library versions,
    seed, sample sizes and the hashes of the model and data it used."""

    id = serializers.IntegerField()
    attempts = serializers.IntegerField()
    queued_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    duration_seconds = serializers.FloatField(allow_null=True)
    failure_reasons = serializers.ListField(child=serializers.CharField())
    metrics = serializers.JSONField()
    thresholds_applied = serializers.JSONField()
    library_versions = serializers.DictField(child=serializers.CharField())
    random_seed = serializers.IntegerField(allow_null=True)
    sample_sizes = serializers.JSONField()
    model_sha256 = serializers.CharField()
    data_sha256 = serializers.DictField(child=serializers.CharField())
    result_sha256 = serializers.CharField()
    plots = serializers.SerializerMethodField()

    @extend_schema_field(CheckPlotOut(many=True))
    def get_plots(self, result) -> list:
        plots = sorted(result.plots.all(), key=lambda plot: plot.name)
        for plot in plots:
            plot.check_result = result  # already loaded: no query per plot
        return CheckPlotOut(plots, many=True).data


class ReviewPolicyRefOut(serializers.Serializer):
    key = serializers.CharField()
    version = serializers.IntegerField()
    snapshot_sha256 = serializers.CharField()


class ReviewApprovalOut(serializers.Serializer):
    artifact_sha256 = serializers.CharField()
    environment = serializers.CharField()
    approved_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    conditions = serializers.ListField(child=serializers.CharField())
    revoked_at = serializers.DateTimeField(allow_null=True)


class ReviewCaseOut(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.SerializerMethodField()
    use_case = serializers.CharField(source="model_version.model.use_case.key")
    model = serializers.CharField(source="model_version.model.key")
    version = serializers.IntegerField(source="model_version.number")
    artifact_sha256 = serializers.CharField(source="model_version.artifact_sha256")
    environment = serializers.CharField()
    status = serializers.CharField()
    status_reason = serializers.CharField()
    status_changed_at = serializers.DateTimeField()
    submitted_by = serializers.CharField(source="submitted_by.username")
    opened_at = serializers.DateTimeField()
    policy = serializers.SerializerMethodField()
    thresholds = serializers.JSONField(help_text="Locked when the case opened, before any result existed.")
    evaluation = serializers.JSONField()
    documentation = serializers.DictField(child=serializers.CharField())
    progress = serializers.SerializerMethodField(help_text="Mean progress of the checks, percent.")
    checks = serializers.SerializerMethodField()
    previous_case = serializers.IntegerField(source="previous_case_id", allow_null=True)
    resubmission = serializers.SerializerMethodField()
    approval = serializers.SerializerMethodField()

    def get_url(self, case) -> str:
        return case_path(case.pk)

    @extend_schema_field(ReviewPolicyRefOut)
    def get_policy(self, case) -> dict:
        return {"key": case.policy_snapshot["key"], "version": case.policy_snapshot["version"],
                "snapshot_sha256": case.policy_snapshot_sha256}

    def _checks(self, case) -> list:
        return sorted(case.check_results.all(), key=lambda result: result.kind)

    def get_progress(self, case) -> int:
        results = self._checks(case)
        if not results:
            return 0 if case.status == "open" else 100
        return round(sum(result.progress for result in results) / len(results))

    @extend_schema_field(CheckSummaryOut(many=True))
    def get_checks(self, case) -> list:
        return CheckSummaryOut(self._checks(case), many=True).data

    def get_resubmission(self, case) -> int | None:
        resubmission = getattr(case, "resubmission", None)
        return None if resubmission is None else resubmission.pk

    @extend_schema_field(ReviewApprovalOut(allow_null=True))
    def get_approval(self, case) -> dict | None:
        approval = getattr(case, "approval", None)
        return None if approval is None else ReviewApprovalOut(approval).data


class FindingOut(serializers.Serializer):
    id = serializers.IntegerField()
    case = serializers.IntegerField(source="case_id")
    check = serializers.SerializerMethodField()
    severity = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    owner = serializers.CharField(source="owner.username")
    due_date = serializers.DateField()
    status = serializers.CharField()
    raised_by = serializers.CharField(source="raised_by.username")
    raised_at = serializers.DateTimeField()
    resolution = serializers.CharField()
    resolved_by = serializers.SerializerMethodField()
    resolved_at = serializers.DateTimeField(allow_null=True)

    def get_check(self, finding) -> str | None:
        return None if finding.check_result is None else finding.check_result.kind

    def get_resolved_by(self, finding) -> str | None:
        return _username(finding.resolved_by)


class ReviewDecisionOut(serializers.Serializer):
    """A signed decision: signer, printed name, time, meaning, and the SHA-256 of the manifest signed."""

    id = serializers.IntegerField()
    case = serializers.IntegerField(source="case_id")
    case_status = serializers.CharField(source="case.status")
    meaning = serializers.CharField()
    statement = serializers.SerializerMethodField()
    signer = serializers.CharField(source="signer.username")
    signer_printed_name = serializers.CharField()
    signed_at = serializers.DateTimeField()
    comment = serializers.CharField()
    manifest = serializers.JSONField()
    manifest_sha256 = serializers.CharField()
    audit_index = serializers.IntegerField(allow_null=True)

    def get_statement(self, decision) -> str:
        return SignatureMeaning(decision.meaning).label


# --- input ------------------------------------------------------------------------------------------


class PositiveLabelField(serializers.JSONField):
    """The label value that means "positive": a string or an integer."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (str, int)):
            raise serializers.ValidationError("The positive label is a string or an integer.")
        if isinstance(data, str) and ("\x00" in data or len(data) > 200):
            raise serializers.ValidationError("At most 200 characters, no NUL.")
        return data


class ReviewOpenIn(StrictInputSerializer):
    use_case = serializers.CharField(help_text="Use case key.")
    model = serializers.CharField(help_text="Model key within the use case.")
    version = serializers.IntegerField(min_value=1, help_text="Model version number.")
    environment = serializers.CharField(max_length=64, help_text="Target environment, e.g. production.")
    label_column = serializers.CharField(max_length=200, required=False, allow_blank=True, default="",
                                         help_text="Label column of the version's test dataset.")
    positive_label = PositiveLabelField(required=False, default=1)
    documentation = JSONValueField(kind=dict, required=False, default=dict,
                                   help_text="Field name to text, e.g. {\"human_oversight\": \"...\"}.")
    previous_case = serializers.IntegerField(min_value=1, required=False, allow_null=True, default=None,
                                             help_text="The case that requested changes, for a resubmission.")


class ReviewWithdrawIn(StrictInputSerializer):
    reason = serializers.CharField(max_length=5000)


class FindingRaiseIn(StrictInputSerializer):
    severity = serializers.ChoiceField(choices=FindingSeverity.choices)
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=20000)
    owner = serializers.CharField(max_length=150, help_text="Username of the person who owns the finding.")
    due_date = serializers.DateField()
    check = serializers.ChoiceField(choices=CheckKind.choices, required=False, allow_null=True, default=None,
                                    help_text="The check the finding is about, if any.")


class FindingResolveIn(StrictInputSerializer):
    resolution = serializers.CharField(max_length=20000)


class FindingReassignIn(StrictInputSerializer):
    owner = serializers.CharField(max_length=150, required=False, help_text="Username of the new owner.")
    due_date = serializers.DateField(required=False)
    reason = serializers.CharField(max_length=5000)


class ReviewRiskAcceptIn(StrictInputSerializer):
    rationale = serializers.CharField(max_length=20000)


class ReviewSignatureIn(StrictInputSerializer):
    """Every signature re-enters the signer's password (21 CFR Part 11 §11.200)."""

    password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"},
                                     write_only=True)


class ReviewValidateIn(ReviewSignatureIn):
    comment = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")


class ReviewApproveIn(ReviewSignatureIn):
    conditions = serializers.ListField(child=serializers.CharField(max_length=1000), required=False,
                                       default=list, max_length=50)
    comment = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")


class ReviewCloseIn(ReviewSignatureIn):
    reason = serializers.CharField(max_length=5000)
