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
            unknown = unknown_field_errors(self.fields, data)
            if unknown:
                raise serializers.ValidationError(unknown)
            if not isinstance(data, QueryDict):
                wrong = {name: [message] for name, field in self.fields.items()
                         if name in data and (message := json_type_error(field, data[name]))}
                if wrong:
                    raise serializers.ValidationError(wrong)
        return super().to_internal_value(data)


def unknown_field_errors(fields, data) -> dict[str, list[str]]:
    """An error for each key of `data` that is not one of `fields`, naming the fields there are."""
    unknown = sorted(set(data.keys()) - set(fields))
    allowed = ", ".join(sorted(fields))
    return {name: [f"Unknown field {name!r}; the fields are: {allowed}."] for name in unknown}


def json_shape_errors(serializer_class: type[serializers.Serializer], data) -> dict[str, list[str]]:
    """What a StrictInputSerializer refuses about a JSON body before its fields validate the values: a
    body that is not an object, unknown fields, missing required fields, nulls and wrong JSON types.

    It reads the serializer's declared fields without building the serializer (building one deep-copies
    its fields: about 0.15 ms), for a hot endpoint whose service validates the values itself (the
    gate check); the serializer still documents the body in the API schema."""
    if not isinstance(data, dict):
        return {"non_field_errors": [f"The body must be a JSON object, not {_JSON_TYPE_NAMES.get(type(data), 'that')}."]}
    fields = serializer_class._declared_fields
    errors = unknown_field_errors(fields, data)
    for name, field in fields.items():
        if name not in data:
            if field.required:
                errors[name] = ["This field is required."]
        elif data[name] is None:
            if not field.allow_null:
                errors[name] = ["This field may not be null."]
        elif message := json_type_error(field, data[name]):
            errors[name] = [message]
    return errors


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
