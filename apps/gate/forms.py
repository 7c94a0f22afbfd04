"""Forms of the gate's web pages: the decision and approval filters and the revocation form."""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from django import forms
from django.conf import settings

from .models import Verdict


def _environment_choices() -> list[tuple[str, str]]:
    return [("", "Any environment"), *((name, name) for name in settings.DOCKET_ENVIRONMENTS)]


class DecisionFilterForm(forms.Form):
    """Filters of the gate decision list; dates are whole UTC days, inclusive."""

    model = forms.CharField(label="Model", required=False, max_length=200,
                            help_text="As pipelines name it: use-case/model, e.g. credit-scoring/default-lr.")
    environment = forms.ChoiceField(label="Environment", required=False)
    verdict = forms.ChoiceField(label="Decision", required=False, choices=[("", "Allow or deny"), *Verdict.choices])
    since = forms.DateField(label="From (UTC date)", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To (UTC date, inclusive)", required=False,
                            widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["environment"].choices = _environment_choices()

    def clean_model(self) -> str:
        value = self.cleaned_data["model"].strip()
        if "\x00" in value:
            raise forms.ValidationError("Must not contain NUL characters.")
        return value

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["until"] < data["since"]:
            self.add_error("until", "The end date is before the start date.")
        return data

    def apply(self, decisions):
        """Narrows a GateDecision queryset to the filter."""
        data = self.cleaned_data
        if data.get("model"):
            decisions = decisions.filter(requested_model=data["model"])
        if data.get("environment"):
            decisions = decisions.filter(environment=data["environment"])
        if data.get("verdict"):
            decisions = decisions.filter(verdict=data["verdict"])
        if data.get("since"):
            decisions = decisions.filter(decided_at__gte=_start_of(data["since"]))
        if data.get("until"):
            decisions = decisions.filter(decided_at__lt=_start_of(data["until"] + dt.timedelta(days=1)))
        return decisions


class ApprovalFilterForm(forms.Form):
    """Filters of the approval list."""

    STATES: ClassVar[list[tuple[str, str]]] = [
        ("", "Any state"), ("valid", "Valid"), ("expiring", "Expiring soon"), ("expired", "Expired"),
        ("revoked", "Revoked"),
    ]

    use_case = forms.SlugField(label="Use case", required=False, max_length=64)
    environment = forms.ChoiceField(label="Environment", required=False)
    state = forms.ChoiceField(label="State", required=False, choices=STATES)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["environment"].choices = _environment_choices()

    def apply(self, approvals, *, now: dt.datetime, warning: dt.timedelta):
        """Narrows an Approval queryset to the filter; "expiring" means valid now and ending within `warning`."""
        data = self.cleaned_data
        if data.get("use_case"):
            approvals = approvals.filter(model_version__model__use_case__key=data["use_case"])
        if data.get("environment"):
            approvals = approvals.filter(environment=data["environment"])
        state = data.get("state")
        valid = {"revoked_at__isnull": True, "approved_at__lte": now, "expires_at__gt": now}
        if state == "valid":
            approvals = approvals.filter(**valid)
        elif state == "expiring":
            approvals = approvals.filter(**valid, expires_at__lte=now + warning)
        elif state == "expired":
            approvals = approvals.filter(revoked_at__isnull=True, expires_at__lte=now)
        elif state == "revoked":
            approvals = approvals.filter(revoked_at__isnull=False)
        return approvals


class RevokeForm(forms.Form):
    """An approver's revocation: the reason, and their password as the signature (21 CFR Part 11 §11.200)."""

    reason = forms.CharField(label="Reason for revoking", widget=forms.Textarea(attrs={"rows": 3}),
                             help_text="Pipelines and auditors read it: the gate's denials cite this revocation.")
    password = forms.CharField(label="Your password", strip=False,
                               widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
                               help_text="Re-enter your password to sign the revocation.")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self) -> str:
        """The signer's own password, checked as the reviews service checks signature passwords."""
        password = self.cleaned_data["password"]
        if not self.user.has_usable_password() or not self.user.check_password(password):
            raise forms.ValidationError("The password is not correct; nothing was revoked.")
        return password


def _start_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
