"""Forms of the registry's web pages. They parse what a person typed; the services decide what is allowed
(the classification rules, e.g. the Art. 6(3) profiling rule, live in `services.use_case_classify`)."""

from __future__ import annotations

from typing import ClassVar

from django import forms

from apps.common.errors import ApplicationError

from .models import ART5_PRACTICES, AnnexIIIPoint, Art50Duty, Art63Exemption

YES_NO = [("yes", "Yes"), ("no", "No")]


def _yes_no(label: str, help_text: str = "") -> forms.ChoiceField:
    return forms.ChoiceField(label=label, help_text=help_text, choices=YES_NO, widget=forms.RadioSelect)


def annex_iii_choices() -> list:
    """The Annex III points one can classify under, grouped by area: an area's points, or the area itself
    when it has none (the service refuses an area that has points). One query."""
    rows = list(AnnexIIIPoint.objects.order_by("code").values_list("code", "parent_id", "title"))
    areas = {code: title for code, parent, title in rows if parent is None}
    points: dict[str, list[tuple[str, str]]] = {code: [] for code in areas}
    for code, parent, title in rows:
        if parent is not None:
            points.setdefault(parent, []).append((code, f"{code}: {title}"))
    choices: list = [("", "Not listed in Annex III")]
    for area, title in areas.items():
        if points[area]:
            choices.append((f"{area}: {title}", points[area]))
        else:
            choices.append((area, f"{area}: {title}"))
    return choices


class ClassificationForm(forms.Form):
    """The classification wizard's answers, in the order of the Act: Art. 5, Art. 6(1) Annex I,
    Art. 6(2) Annex III, Art. 6(3) exemption, Art. 50 duties, rationale."""

    # Field names used by the service for its errors, mapped to the fields of this form.
    SERVICE_FIELDS: ClassVar[dict[str, str | None]] = {
        "art5_answers": None,  # about the screen as a whole
        "annex_i_safety_component": "annex_i_safety_component",
        "annex_iii_code": "annex_iii_code",
        "profiles_natural_persons": "profiles_natural_persons",
        "art6_3_exemption": "art6_3_exemption",
        "art6_3_rationale": "art6_3_rationale",
        "art50_duties": "art50_duties",
        "rationale": "rationale",
    }

    annex_i_safety_component = _yes_no(
        "Is the system a safety component of a product, or itself a product, covered by the Union "
        "harmonisation legislation in Annex I and required to undergo third-party conformity assessment?",
        "Art. 6(1). Yes makes the system high risk.",
    )
    annex_iii_code = forms.ChoiceField(
        label="Annex III point", required=False,
        help_text="Art. 6(2): the area and point of Annex III the intended purpose falls under, if any.",
    )
    profiles_natural_persons = _yes_no(
        "Does the system perform profiling of natural persons?",
        "Profiling within the meaning of GDPR Art. 4(4). An Annex III system that profiles is always high risk.",
    )
    art6_3_exemption = forms.ChoiceField(
        label="Art. 6(3) exemption", required=False,
        choices=[("", "No exemption claimed"), *Art63Exemption.choices],
        help_text="Only for an Annex III system that poses no significant risk of harm (Art. 6(3)).",
    )
    art6_3_rationale = forms.CharField(
        label="Why the exemption applies", required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Required with an exemption: the assessment documented under Art. 6(4).",
    )
    art50_duties = forms.MultipleChoiceField(
        label="Art. 50 transparency duties", required=False, choices=Art50Duty.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    rationale = forms.CharField(
        label="Rationale for this classification", widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Recorded with the decision in the audit log; auditors read it.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        art5 = {f"art5_{letter}": _yes_no(description) for letter, description in ART5_PRACTICES.items()}
        self.fields = {**art5, **self.fields}
        self.fields["annex_iii_code"].choices = annex_iii_choices()

    @property
    def art5_fields(self):
        return [self[f"art5_{letter}"] for letter in ART5_PRACTICES]

    def service_arguments(self) -> dict:
        """The cleaned answers as `use_case_classify` takes them."""
        data = self.cleaned_data
        return {
            "art5_answers": {letter: data[f"art5_{letter}"] == "yes" for letter in ART5_PRACTICES},
            "annex_i_safety_component": data["annex_i_safety_component"] == "yes",
            "annex_iii_code": data["annex_iii_code"] or None,
            "profiles_natural_persons": data["profiles_natural_persons"] == "yes",
            "art6_3_exemption": data["art6_3_exemption"],
            "art6_3_rationale": data["art6_3_rationale"],
            "art50_duties": list(data["art50_duties"]),
            "rationale": data["rationale"],
        }

    def add_service_error(self, error: ApplicationError) -> None:
        """Shows a refused classification's messages next to the fields they concern."""
        if not error.field_errors:
            self.add_error(None, error.detail)
            return
        for field, messages in error.field_errors.items():
            name = self.SERVICE_FIELDS.get(field.split(".")[0])  # unknown fields: shown above the form
            if field.startswith("art5_answers.") and f"art5_{field.split('.')[1]}" in self.fields:
                name = f"art5_{field.split('.')[1]}"
            for message in messages:
                self.add_error(name, message)
