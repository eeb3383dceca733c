from django import forms

from reviewapp.accounts.models import User
from reviewapp.catalog.models import App, Level

from .models import ReviewQueue


class QueueForm(forms.Form):
    """The shape of a new queue; services.create_queue holds its rules and names what breaks one."""

    name = forms.CharField()
    instructions = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}),
        required=False,
        help_text="Markdown. Starts as the app's instructions; left empty, the app's instructions are shown.",
    )
    overlap = forms.IntegerField(
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
        label="More request ids",
        help_text="One per line (or separated by spaces or commas).",
    )

    def __init__(self, *args, app: App, recent_requests=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reviewers"].queryset = app.members(Level.CAN_QUERY).order_by("email")
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
        label="Request ids to add",
        help_text="One per line (or separated by spaces or commas).",
    )

    def ids(self) -> list[str]:
        return self.cleaned_data["request_ids"].replace(",", " ").split()
