"""Forms check the shape of what was typed; the service says what breaks a rule. One way back."""

from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def show_service_errors(
    form: forms.Form, error: ValidationError, field_map: dict[str, str] | None = None
) -> None:
    """Put a service's ValidationError beside the fields it names (the form's top for the rest).

    field_map renames the service's keys to form fields, e.g. {"adapter_config.url": "url"}.
    """
    field_map = field_map or {}
    if not hasattr(error, "error_dict"):
        form.add_error(None, error.messages)
        return
    for name, messages in error.message_dict.items():
        field = field_map.get(name, name)
        form.add_error(field if field in form.fields else None, messages)


def status_for(*forms: forms.Form) -> int:
    """A page sent back with a form that holds errors is a 400, else a 200: the site's one policy
    (htmx swaps 4xx answers too, base.html), so an error is never a 200."""
    return 400 if any(form.is_bound and form.errors for form in forms) else 200


def render_page(
    request: HttpRequest, template: str, context: dict, *, part: str | None = None, forms=(), status=None
) -> HttpResponse:
    """The page, or only its `part` (a {% partialdef %}) for htmx; a 400 when a form holds errors."""
    if part and request.htmx:
        template = f"{template}#{part}"
    return render(request, template, context, status=status or status_for(*forms))
