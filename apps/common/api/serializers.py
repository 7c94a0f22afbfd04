"""Building blocks for input serializers: unknown fields are refused, JSON arrives as JSON or as text."""

from __future__ import annotations

import json

from rest_framework import serializers


class StrictInputSerializer(serializers.Serializer):
    """An input serializer that refuses fields it does not declare, naming them, instead of ignoring them."""

    def to_internal_value(self, data):
        if hasattr(data, "keys"):
            unknown = sorted(set(data.keys()) - set(self.fields))
            if unknown:
                allowed = ", ".join(sorted(self.fields))
                raise serializers.ValidationError(
                    {name: [f"Unknown field {name!r}; the fields are: {allowed}."] for name in unknown}
                )
        return super().to_internal_value(data)


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
        return value
