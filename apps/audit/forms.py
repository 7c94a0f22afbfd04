"""The audit log browser's filter: subject, actor, action and a date range, turned into the arguments of
`selectors.entry_list`."""

from __future__ import annotations

import datetime as dt

from django import forms

from apps.accounts.models import ServiceAccount, User

from .actions import Action

SUBJECT_TYPES = [
    "registry.usecase", "registry.model", "registry.modelversion", "registry.dataset", "registry.datasetversion",
    "registry.deployment", "reviews.reviewcase", "reviews.reviewpolicy", "reviews.finding", "reviews.approval",
    "gate.gatedecision", "gate.emergencyoverride", "accounts.user", "accounts.team", "accounts.serviceaccount",
]


def _no_nul(value: str) -> None:
    if "\x00" in value:
        raise forms.ValidationError("Must not contain NUL characters.")


class EntryFilterForm(forms.Form):
    """Filters of the audit log browser; every field is optional. Dates are whole UTC days, inclusive."""

    subject_type = forms.CharField(
        label="Subject type", required=False, max_length=100, validators=[_no_nul],
        help_text="e.g. registry.modelversion",
        widget=forms.TextInput(attrs={"list": "subject-types", "autocomplete": "off"}),
    )
    subject_id = forms.CharField(label="Subject id", required=False, max_length=100, validators=[_no_nul])
    actor = forms.CharField(
        label="Actor", required=False, max_length=150, validators=[_no_nul],
        help_text="A username, a service account's name, or “system”.",
    )
    action = forms.ChoiceField(label="Action", required=False, choices=[("", "Any action"), *Action.choices])
    since = forms.DateField(label="From (UTC date)", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To (UTC date, inclusive)", required=False,
                            widget=forms.DateInput(attrs={"type": "date"}))

    subject_types = SUBJECT_TYPES

    def clean_actor(self) -> tuple[str, str] | None:
        """(actor_type, actor_id) as the log records them, from a username or service account name."""
        name = self.cleaned_data["actor"].strip()
        if not name:
            return None
        if name.lower() == "system":
            return ("system", "")
        account = ServiceAccount.objects.filter(name=name).only("pk").first()
        if account is not None:
            return ("service_account", str(account.pk))
        user = User.objects.filter(username=name).select_related("service_account").first()
        if user is None:
            raise forms.ValidationError(f"No user or service account is named “{name}”.")
        if user.is_service_account and hasattr(user, "service_account"):
            return ("service_account", str(user.service_account.pk))
        return ("user", str(user.pk))

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and until < since:
            self.add_error("until", "The end date is before the start date.")
        if data.get("subject_id") and not data.get("subject_type"):
            self.add_error("subject_type", "Give the subject's type with its id.")
        return data

    def selector_arguments(self) -> dict:
        """The cleaned filter as keyword arguments of `apps.audit.selectors.entry_list`."""
        data = self.cleaned_data
        actor = data.get("actor")
        arguments = {
            "subject_type": data.get("subject_type") or None,
            "subject_id": data.get("subject_id") or None,
            "action": data.get("action") or None,
            "actor_type": actor[0] if actor else None,
            "actor_id": actor[1] if actor else None,
            "since": _start_of(data["since"]) if data.get("since") else None,
            "until": _start_of(data["until"] + dt.timedelta(days=1)) if data.get("until") else None,
        }
        if arguments["actor_type"] == "system":
            arguments["actor_id"] = None  # the log leaves SYSTEM's id empty
        return arguments

    def query_string(self) -> str:
        """The filter as a query string (without pagination), for links that keep it."""
        from django.http import QueryDict

        query = QueryDict(mutable=True)
        for name in self.fields:
            value = self.data.get(name)
            if value:
                query[name] = value
        return query.urlencode()


def _start_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
