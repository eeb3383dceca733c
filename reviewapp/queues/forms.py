from django import forms

from reviewapp.accounts.models import User
from reviewapp.catalog.models import App, Level
from reviewapp.lib.filters import UtcDateTimeField
from reviewapp.requestlog.browse import LOCAL_TIME

from . import sampling
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


# --- filling a queue by rules


class FillForm(forms.Form):
    """The rules' shape, and the queue they fill (an open one of the app, or a new one);
    queues.sampling holds the rules and names what breaks one."""

    queue = forms.TypedChoiceField(
        coerce=int, required=False, empty_value=None, label="Queue to fill", choices=()
    )
    name = forms.CharField(required=False, max_length=200, label="New queue's name")
    overlap = forms.IntegerField(required=False, initial=1, label="Reviewers per item (overlap)")
    blind = forms.BooleanField(required=False, label="Blind review")
    since = UtcDateTimeField(required=False, widget=LOCAL_TIME, label="Logged from (UTC)")
    until = UtcDateTimeField(required=False, widget=LOCAL_TIME, label="Until (UTC)")
    thumbs_down = forms.BooleanField(required=False, label="Some reviewer gave a thumbs down")
    chunk_precision_below = forms.FloatField(
        required=False,
        label="Chunk precision below",
        help_text="The share of the request's rated passages judged relevant is below this (above 0, at most 1)",
        widget=forms.NumberInput(attrs={"step": "0.05", "min": "0", "max": "1"}),
    )
    reason = forms.CharField(
        required=False,
        strip=False,
        max_length=sampling.MAX_REASON_CHARS,
        label="Reason",
        help_text="A thumbs down in force gives this reason",
        widget=forms.TextInput(attrs={"list": "fill-reasons"}),
    )
    app_versions = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="App versions",
        help_text="With several, the target is split evenly over them",
    )
    judge = forms.ChoiceField(required=False, label="Judge")
    judge_disagrees = forms.BooleanField(
        required=False,
        label="It failed what every reviewer thumbed up, or passed what every one thumbed down",
    )
    judge_score_below = forms.FloatField(
        required=False,
        label="It scored below",
        widget=forms.NumberInput(attrs={"step": "0.05", "min": "0", "max": "1"}),
    )
    unreviewed = forms.BooleanField(required=False, label="Only unreviewed traffic (no feedback yet)")
    target = forms.IntegerField(
        initial=100,
        label="Target size",
        help_text=f"At most this many requests (up to {sampling.MAX_TARGET:,})",
    )
    include_queued = forms.BooleanField(
        required=False, label="Include traces already waiting in another open queue"
    )
    seed = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, app: App, queues, versions: list[str], judges: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.queues = {queue.pk: queue for queue in queues}
        self.fields["queue"].choices = [("", "A new queue"), *((q.pk, q.name) for q in queues)]
        self.fields["app_versions"].choices = [(v, v or "(none)") for v in versions]
        self.fields["judge"].choices = [("", "—"), *((name, name) for name in judges)]
        self.reasons = list(app.reasons or [])

    def chosen_queue(self) -> ReviewQueue | None:
        return self.queues.get(self.cleaned_data["queue"])

    def rules(self) -> sampling.Rules:
        data = self.cleaned_data
        return sampling.Rules(
            target=data["target"],
            since=data["since"],
            until=data["until"],
            thumbs_down=data["thumbs_down"],
            chunk_precision_below=data["chunk_precision_below"],
            reason=data["reason"],
            app_versions=tuple(data["app_versions"]),
            judge=data["judge"],
            judge_disagrees=data["judge_disagrees"],
            judge_score_below=data["judge_score_below"],
            unreviewed=data["unreviewed"],
            include_queued=data["include_queued"],
            seed=data["seed"],
        )
