"""The explore page's GET form: a start node (picked by search or by id), direction, depth and as-of."""

from __future__ import annotations

from django import forms

from .queries import MAX_DEPTH


class ExploreForm(forms.Form):
    search = forms.CharField(label="Find a node by name", required=False, max_length=200,
                             help_text="e.g. a dataset key, a model key or an environment")
    node = forms.IntegerField(label="Start node (id)", required=False, min_value=1)
    direction = forms.ChoiceField(label="Direction", choices=[("both", "Upstream and downstream"),
                                                              ("up", "Upstream"), ("down", "Downstream")],
                                  required=False, initial="both")
    depth = forms.IntegerField(label="Depth", required=False, min_value=1, max_value=MAX_DEPTH, initial=3)
    as_of = forms.DateTimeField(label="As of (UTC, empty for now)", required=False,
                                widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"}))
