"""Limits as Django validators: one object holds a limit and the words for breaking it.

A service runs them (`check`), so an HTML form and the API say the same thing. A serializer may list
the same object in a field's `validators`: it then refuses early, in those words, and the OpenAPI
schema shows the limit (drf-spectacular reads maxLength, maxItems, minimum and maximum from
validators), so the schema and the behaviour cannot drift apart.
"""

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator


class MaxChars(MaxLengthValidator):
    message = "at most %(limit_value)d characters"


class MaxItems(MaxLengthValidator):
    """At most `limit_value` items; `message` may name the limit ({limit}) and the count given ({given})."""

    def __init__(self, limit_value: int, message: str = "at most {limit} items ({given} given)"):
        super().__init__(limit_value)
        self.template = message

    def __call__(self, value) -> None:
        if len(value) > self.limit_value:
            words = self.template.format(limit=self.limit_value, given=f"{len(value):,}")
            raise ValidationError(words, code="max_length")

    def __eq__(self, other) -> bool:
        return super().__eq__(other) and self.template == other.template


def whole_number(low: int, high: int, message: str) -> list:
    """A range of whole numbers, said the same way whichever end is passed."""
    return [MinValueValidator(low, message), MaxValueValidator(high, message)]


def is_whole_number(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check(errors: dict[str, list], field: str, value, validators: Iterable) -> None:
    """Run `validators` on `value`; the first one refusing puts its words in `errors[field]`."""
    for validator in validators:
        try:
            validator(value)
        except ValidationError as error:
            errors[field] = error.messages
            return


def refuse_broken(field: str, value, validators: Iterable) -> None:
    """`check` for a value that must pass before anything else runs: raises at once."""
    errors: dict[str, list] = {}
    check(errors, field, value, validators)
    if errors:
        raise ValidationError(errors)
