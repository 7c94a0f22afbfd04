"""Building blocks for input serializers: unknown fields and wrong JSON types are refused, JSON arrives
as JSON or as text."""

from __future__ import annotations

import json

from django.http import QueryDict
from rest_framework import serializers


class StrictInputSerializer(serializers.Serializer):
    """An input serializer that refuses fields it does not declare, naming them, instead of ignoring them;
    and, for JSON input (not a form, whose values are all text), values of the wrong JSON type instead of
    coercing them (DRF alone takes 42 for a string and "yes" for a boolean)."""

    def to_internal_value(self, data):
        if hasattr(data, "keys"):
            unknown = sorted(set(data.keys()) - set(self.fields))
            if unknown:
                allowed = ", ".join(sorted(self.fields))
                raise serializers.ValidationError(
                    {name: [f"Unknown field {name!r}; the fields are: {allowed}."] for name in unknown}
                )
            if not isinstance(data, QueryDict):
                wrong = {name: [message] for name, field in self.fields.items()
                         if name in data and (message := json_type_error(field, data[name]))}
                if wrong:
                    raise serializers.ValidationError(wrong)
        return super().to_internal_value(data)


_JSON_TYPE_NAMES = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array",
                    dict: "an object"}


def json_type_error(field: serializers.Field, value) -> str | None:
    """Why a JSON `value` has the wrong type for `field`, or None when its type fits (or the field takes
    any JSON, a file, or a nested serializer, which checks itself). null is left to the field."""
    if value is None or isinstance(field, (serializers.JSONField, serializers.FileField, serializers.Serializer)):
        return None
    if isinstance(field, serializers.ListField):
        if not isinstance(value, list):
            return f"Must be an array, not {_JSON_TYPE_NAMES.get(type(value), 'that')}."
        errors = (json_type_error(field.child, item) for item in value)
        return next((f"Each item: {error}" for error in errors if error), None)
    if isinstance(field, serializers.DictField):
        if not isinstance(value, dict):
            return f"Must be an object, not {_JSON_TYPE_NAMES.get(type(value), 'that')}."
        errors = (json_type_error(field.child, item) for item in value.values())
        return next((f"Each value: {error}" for error in errors if error), None)
    if isinstance(field, serializers.BooleanField):
        fits, wanted = isinstance(value, bool), "true or false"
    elif isinstance(field, serializers.IntegerField):
        fits, wanted = isinstance(value, int) and not isinstance(value, bool), "a whole number"
    elif isinstance(field, (serializers.FloatField, serializers.DecimalField)):
        fits, wanted = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
    elif isinstance(field, (serializers.CharField, serializers.ChoiceField, serializers.DateTimeField,
                            serializers.DateField)):
        fits, wanted = isinstance(value, str), "a string"
    else:
        return None
    return None if fits else f"Must be {wanted}, not {_JSON_TYPE_NAMES.get(type(value), 'that')}."


class JSONValueField(serializers.JSONField):
    """A JSON value sent natively (JSON body) or as JSON text (a multipart form field).

    `kind` (dict or list) makes other shapes a validation error.
    """

    def __init__(self, *, kind: type | None = None, **kwargs):
        self.kind = kind
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError:
                raise serializers.ValidationError("Not valid JSON text.") from None
        value = super().to_internal_value(data)
        if self.kind is not None and not isinstance(value, self.kind):
            raise serializers.ValidationError(f"Must be a JSON {'object' if self.kind is dict else 'array'}.")
        if _contains_nul(value):
            raise serializers.ValidationError("Text in this value must not contain NUL (\\u0000) characters.")
        return value


def _contains_nul(value) -> bool:
    """Whether a parsed JSON value has a NUL character in any string or key (PostgreSQL cannot store one)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(key) or _contains_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_contains_nul(item) for item in value)
    return False
