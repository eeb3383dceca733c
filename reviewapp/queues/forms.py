from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q

from reviewapp.accounts.models import User
from reviewapp.catalog.models import App, Level
from reviewapp.catalog.services import MAX_INSTRUCTIONS_CHARS

from .models import ReviewQueue
from .services import MAX_OVERLAP

# A pasted list of request ids: up to 10,000 UUIDs with separators.
MAX_PASTED_IDS_CHARS = 10_000 * 40


def reviewer_choices(app: App):
    """Users who may review on `app`: CAN_QUERY or more, granted to them or to one of their groups."""
    granted = Q(grants__app=app, grants__level__gte=Level.CAN_QUERY) | Q(
        scim_groups__grants__app=app, scim_groups__grants__level__gte=Level.CAN_QUERY
    )
    return User.objects.filter(granted, is_active=True).distinct().order_by("email")


class QueueForm(forms.Form):
    name = forms.CharField(max_length=200)
    instructions = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}),
        required=False,
        max_length=MAX_INSTRUCTIONS_CHARS,
        help_text="Markdown. Starts as the app's instructions; left empty, the app's instructions are shown.",
    )
    overlap = forms.IntegerField(
        min_value=1,
        max_value=MAX_OVERLAP,
        initial=1,
        label="Reviewers per item (overlap)",
        help_text="How many reviewers see each item",
    )
    assignment = forms.ChoiceField(
        choices=ReviewQueue.Assignment.choices, initial=ReviewQueue.Assignment.NAMED, widget=forms.RadioSelect
    )
    blind = forms.BooleanField(
        required=False,
        label="Blind: a reviewer sees others' feedback on an item only after submitting theirs",
    )
    reviewers = forms.ModelMultipleChoiceField(
        queryset=User.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )
    requests = forms.MultipleChoiceField(choices=(), required=False, widget=forms.CheckboxSelectMultiple)
    request_ids = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        max_length=MAX_PASTED_IDS_CHARS,
        label="More request ids",
        help_text="One per line (or separated by spaces or commas).",
    )

    def __init__(self, *args, app: App, recent_requests=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reviewers"].queryset = reviewer_choices(app)
        self.fields["requests"].choices = [
            (
                str(r.request_id),
                f"{r.request_text[:120]} · {r.created_at:%Y-%m-%d %H:%M} · {str(r.request_id)[:8]}",
            )
            for r in recent_requests
        ]

    def all_request_ids(self) -> list[str]:
        pasted = self.cleaned_data.get("request_ids", "").replace(",", " ").split()
        return [*self.cleaned_data.get("requests", []), *pasted]


class AddItemsForm(forms.Form):
    request_ids = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=MAX_PASTED_IDS_CHARS,
        label="Request ids to add",
        help_text="One per line (or separated by spaces or commas).",
    )

    def ids(self) -> list[str]:
        return self.cleaned_data["request_ids"].replace(",", " ").split()


def apply_errors(form: forms.Form, error: ValidationError, field_map: dict[str, str] | None = None) -> None:
    """Put a service's ValidationError on the form fields it names."""
    field_map = field_map or {}
    for name, messages in error.message_dict.items():
        field = field_map.get(name, name)
        form.add_error(field if field in form.fields else None, messages)
