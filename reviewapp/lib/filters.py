"""Query-string filters (django-filter), read the same way by every list, page or API alike.

An empty value is no filter (`?source=` means any source); a value the filter cannot read is a
400 naming the parameter, never a 500 and never silently ignored.
"""

from datetime import UTC

import django_filters
from django import forms
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.contrib.django_filters import DjangoFilterExtension
from rest_framework.exceptions import ValidationError

TRUE_WORDS = frozenset({"true", "t", "yes", "y", "on", "1"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "off", "0"})


class UtcDateTimeField(forms.DateTimeField):
    """A time, read in UTC: "+23:02" is a valid ISO offset, but the database takes at most ±15:59."""

    def to_python(self, value):
        value = super().to_python(value)
        if value is None or value.tzinfo is None:
            return value
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError("is out of range", code="out_of_range") from None


class StrictBooleanField(forms.NullBooleanField):
    """true/false (and yes/no, 1/0, on/off); anything else is an error, not "no filter"."""

    widget = forms.TextInput

    def to_python(self, value):
        if value is None or isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if not text:
            return None
        if text in TRUE_WORDS:
            return True
        if text in FALSE_WORDS:
            return False
        raise forms.ValidationError("Must be a valid boolean.", code="invalid")

    def validate(self, value):
        pass


class UtcDateTimeFilter(django_filters.DateTimeFilter):
    field_class = UtcDateTimeField


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class EmailFilter(django_filters.CharFilter):
    field_class = forms.EmailField


def errors_by_parameter(errors) -> dict[str, list[str]]:
    """A form's errors keyed by query parameter; `detail` for those about the query as a whole."""
    return {("detail" if name == "__all__" else name): list(messages) for name, messages in errors.items()}


class FilterBackend(DjangoFilterBackend):
    """DRF's side of a FilterSet: a bad value is a 400 whose body names the parameter."""

    def filter_queryset(self, request, queryset, view):
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        if not filterset.is_valid():
            raise ValidationError(errors_by_parameter(filterset.errors))
        return filterset.qs


class FilterParameters(DjangoFilterExtension):
    """The schema of a FilterSet's parameters says what its form reads: an empty value is no filter,
    a text has its maximum length, an email is an email."""

    target_class = "reviewapp.lib.filters.FilterBackend"
    priority = 1

    def resolve_filter_field(self, auto_schema, model, filterset_class, field_name, filter_field):
        parameters = super().resolve_filter_field(
            auto_schema, model, filterset_class, field_name, filter_field
        )
        for parameter in parameters:
            parameter["allowEmptyValue"] = True
            if filter_field.extra.get("max_length"):
                parameter["schema"]["maxLength"] = filter_field.extra["max_length"]
            if issubclass(filter_field.field_class, forms.EmailField):
                parameter["schema"]["format"] = "email"
        return parameters
