"""Serializer fields and a base that hold a JSON body to its schema: no coercion, no unknown keys."""

import copy

from rest_framework import serializers


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, so a typo is a 400 instead of a silent no-op."""

    refuses_unknown_fields = True  # the schema says additionalProperties: false (front.api_schema)

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {key: [f"unknown field; allowed: {', '.join(self.fields)}"] for key in unknown}
                )
        return super().to_internal_value(data)


class ModelFieldsOnce:
    """For a ModelSerializer on a hot path: its fields are worked out from the model once per class,
    then each instance gets copies (as DRF copies declared fields), not a fresh walk of the model."""

    def get_fields(self):
        cls = type(self)
        built = cls.__dict__.get("_fields_built_once")
        if built is None:
            built = super().get_fields()
            cls._fields_built_once = built  # never bound: instances bind their copies
        return copy.deepcopy(built)


class DeclaredFieldsOnce:
    """For an input serializer on a hot path: its declared fields are built once per class, and
    each instance binds shallow copies of them. DRF deep-copies every declared field per instance,
    which constructs each field (and its validators, and a nested serializer's whole tree) again on
    every call. Validation keeps no state on a field, so the copies may share what lies below them;
    a nested serializer's own fields are shared, bound to the class's copy, and must not read the
    context or the root (none of ours does)."""

    def get_fields(self):
        cls = type(self)
        built = cls.__dict__.get("_declared_fields_once")
        if built is None:
            built = copy.deepcopy(self._declared_fields)
            cls._declared_fields_once = built  # never bound: instances bind their copies
        return {name: copy.copy(field) for name, field in built.items()}


class Text(serializers.CharField):
    """A CharField that refuses numbers and booleans instead of turning them into text."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class Flag(serializers.BooleanField):
    """A JSON true or false (null where allowed), not 0, "1" or "yes": in a JSON body the schema's
    boolean is the whole contract. (Query parameters, which are text, keep BooleanField.)"""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


def validated(serializer_class: type[serializers.Serializer], request, **kwargs) -> dict:
    """The request's body as `serializer_class` checks it; a 400 naming each field at fault otherwise."""
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
