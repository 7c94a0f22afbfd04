"""Forms of the review pages. They only parse what was typed (types, required fields); every rule about
what may be done is the services' (apps.reviews.services), whose errors are shown next to these fields."""

from __future__ import annotations

from django import forms

from apps.registry.models import RiskClass

from .models import CheckKind, FindingSeverity, ReviewStatus


class QueueFilterForm(forms.Form):
    """The review queue's GET filters. Unknown values are ignored rather than refused."""

    SORT_CHOICES = (("oldest", "Oldest first"), ("newest", "Newest first"))

    use_case = forms.ChoiceField(label="Use case", required=False)
    risk_class = forms.ChoiceField(label="Risk class", required=False,
                                   choices=[("", "Any risk class"), *RiskClass.choices])
    state = forms.ChoiceField(label="State", required=False, choices=[("", "Any state"), *ReviewStatus.choices])
    assigned = forms.BooleanField(label="Waiting for me", required=False)
    sort = forms.ChoiceField(label="Sort by age", required=False, choices=SORT_CHOICES)

    def __init__(self, *args, use_case_keys: list[str] = (), **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["use_case"].choices = [("", "Any use case"), *[(key, key) for key in use_case_keys]]

    def filters(self) -> dict:
        """Keyword arguments for selectors.review_queue (defaults where the input was not valid)."""
        data = self.cleaned_data if self.is_valid() else {}
        return {
            "use_case_key": data.get("use_case") or "",
            "risk_class": data.get("risk_class") or "",
            "status": data.get("state") or "",
            "assigned_to_me": bool(data.get("assigned")),
            "oldest_first": (data.get("sort") or "oldest") == "oldest",
        }


class FindingRaiseForm(forms.Form):
    severity = forms.ChoiceField(label="Severity", choices=FindingSeverity.choices)
    title = forms.CharField(label="Title", max_length=200)
    description = forms.CharField(label="Description", widget=forms.Textarea(attrs={"rows": 4}))
    owner = forms.CharField(label="Owner (username)", max_length=150,
                            help_text="The person who must resolve it, e.g. the model developer.")
    due_date = forms.DateField(label="Due date", widget=forms.DateInput(attrs={"type": "date"}))
    check = forms.ChoiceField(label="About the check", required=False)

    def __init__(self, *args, check_kinds: list[str] = (), **kwargs):
        super().__init__(*args, **kwargs)
        labels = dict(CheckKind.choices)
        self.fields["check"].choices = [("", "No particular check"), *[(kind, labels[kind]) for kind in check_kinds]]


class FindingResolveForm(forms.Form):
    resolution = forms.CharField(label="Resolution", widget=forms.Textarea(attrs={"rows": 3}))


class FindingReassignForm(forms.Form):
    owner = forms.CharField(label="New owner (username)", max_length=150, required=False)
    due_date = forms.DateField(label="New due date", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(label="Reason", widget=forms.Textarea(attrs={"rows": 2}))


class RiskAcceptForm(forms.Form):
    rationale = forms.CharField(label="Rationale for accepting the risk", widget=forms.Textarea(attrs={"rows": 3}))


class WithdrawForm(forms.Form):
    reason = forms.CharField(label="Why is the review withdrawn?", widget=forms.Textarea(attrs={"rows": 2}))


class SignatureForm(forms.Form):
    """Every signature re-enters the password (21 CFR Part 11 §11.200). The password is never kept."""

    password = forms.CharField(label="Your password", strip=False,
                               widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))


class ValidateForm(SignatureForm):
    comment = forms.CharField(label="Comment", required=False, widget=forms.Textarea(attrs={"rows": 2}))
    field_order = ("comment", "password")


class ApproveForm(SignatureForm):
    conditions = forms.CharField(label="Conditions of use (one per line)", required=False,
                                 widget=forms.Textarea(attrs={"rows": 3}))
    comment = forms.CharField(label="Comment", required=False, widget=forms.Textarea(attrs={"rows": 2}))
    field_order = ("conditions", "comment", "password")

    def condition_list(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data.get("conditions", "").splitlines() if line.strip()]


class CloseForm(SignatureForm):
    """Reject or request changes: the reason is required (the submitter and auditors read it)."""

    reason = forms.CharField(label="Reason", widget=forms.Textarea(attrs={"rows": 3}))
    field_order = ("reason", "password")
