from django import forms

from reviewapp.accounts.models import User
from reviewapp.catalog.models import App, Level
from reviewapp.queues.models import ReviewQueue

from .models import REASONS


class PreferenceForm(forms.Form):
    """A reviewer's pick; services.record_preference holds the rules and maps it to versions."""

    choice = forms.ChoiceField(
        choices=[
            ("a", "Response A is better"),
            ("b", "Response B is better"),
            ("tie", "Tie: neither is better"),
        ],
        widget=forms.RadioSelect,
        error_messages={"required": "Pick Response A, Response B or a tie (a, b or t)."},
    )
    reasons = forms.MultipleChoiceField(
        choices=[*((r, r.capitalize()) for r in REASONS), ("other", "Other")],
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    other_reason = forms.CharField(required=False, strip=False, label="Other reason")
    comment = forms.CharField(required=False, strip=False, widget=forms.Textarea(attrs={"rows": 3}))


class PairwiseQueueForm(forms.Form):
    """A new pairwise queue: from two versions (the requests replayed on B) or an uploaded JSONL of pairs."""

    name = forms.CharField()
    instructions = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False)
    overlap = forms.IntegerField(initial=1, label="Reviewers per pair (overlap)")
    assignment = forms.ChoiceField(
        choices=ReviewQueue.Assignment.choices, initial=ReviewQueue.Assignment.OPEN, widget=forms.RadioSelect
    )
    reviewers = forms.ModelMultipleChoiceField(
        queryset=User.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )
    version_a = forms.ChoiceField(required=False, label="Version A (the requests' version)")
    version_b = forms.ChoiceField(required=False, label="Version B (replayed on)")
    request_ids = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        label="Requests of version A",
        help_text="Request ids, one per line (or separated by spaces or commas).",
    )
    latest = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=10_000,
        label="…or the latest N requests of version A",
    )
    pairs_file = forms.FileField(
        required=False,
        label="…or upload pairs (JSONL)",
        help_text='One pair a line: {"messages" or "prompt", "response_a", "response_b", '
        'optional "version_a", "version_b"}.',
    )

    def __init__(self, *args, app: App, versions: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reviewers"].queryset = app.members(Level.CAN_QUERY).order_by("email")
        choices = [("", "—"), *((v, v) for v in versions)]
        self.fields["version_a"].choices = choices
        self.fields["version_b"].choices = choices

    def request_ids_given(self) -> list[str]:
        return self.cleaned_data.get("request_ids", "").replace(",", " ").split()
