from django import forms
from django.db.models import Q

from reviewapp.accounts.models import User
from reviewapp.catalog.models import App, Level
from reviewapp.lib.filters import UtcDateTimeField
from reviewapp.requestlog.browse import LOCAL_TIME

from . import sampling
from .models import ReviewQueue
from .progress import ItemStatus


class QueueSettingsForm(forms.Form):
    """The shape of a queue's settings; services.py holds their rules and names what breaks one."""

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
    due_at = forms.DateTimeField(
        required=False,
        label="Due",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Optional; shown to reviewers (UTC).",
    )
    gold_rate = forms.FloatField(
        required=False,
        initial=0,
        label="Gold rate",
        help_text="Share of each reviewer's items drawn from known-answer (gold) items, 0 to 0.5; empty: 0.",
        widget=forms.NumberInput(attrs={"step": "0.01"}),
    )
    gold_accuracy_threshold = forms.FloatField(
        required=False,
        label="Gold accuracy threshold",
        help_text="Flag a reviewer whose accuracy on gold items falls below this (0 to 1); empty: never.",
        widget=forms.NumberInput(attrs={"step": "0.01"}),
    )
    # A list box, not ticks: the reviewers' ticks already name each person once on the page.
    adjudicators = forms.ModelMultipleChoiceField(
        queryset=User.objects.none(),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 4}),
        help_text="Besides the app's managers, who may settle disagreements (Ctrl/Cmd-click for several).",
    )

    def __init__(self, *args, app: App, queue: ReviewQueue | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        people = app.members(Level.CAN_QUERY)
        reviewers, adjudicators = people, people
        if queue is not None:
            # Those already named stay listed (and ticked) even if they lost the right since.
            named = Q(pk__in=people.values("pk"))
            reviewers = User.objects.filter(named | Q(pk__in=queue.reviewers.values("pk")))
            adjudicators = User.objects.filter(named | Q(pk__in=queue.adjudicators.values("pk")))
        self.fields["reviewers"].queryset = reviewers.order_by("email")
        self.fields["adjudicators"].queryset = adjudicators.order_by("email")

    def settings(self) -> dict:
        """The settings as services.create_queue and update_queue take them."""
        data = self.cleaned_data
        settings = {name: data[name] for name in SETTINGS}
        settings["reviewers"] = list(data["reviewers"])
        settings["adjudicators"] = list(data["adjudicators"])
        if settings["gold_rate"] is None:
            settings["gold_rate"] = 0.0
        return settings


SETTINGS = tuple(QueueSettingsForm.base_fields)


class QueueForm(QueueSettingsForm):
    """A new queue: its settings and its first requests."""

    requests = forms.MultipleChoiceField(choices=(), required=False, widget=forms.CheckboxSelectMultiple)
    request_ids = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        label="More request ids",
        help_text="One per line (or separated by spaces or commas).",
    )

    def __init__(self, *args, app: App, recent_requests=(), **kwargs):
        super().__init__(*args, app=app, **kwargs)
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


class QueueEditForm(QueueSettingsForm):
    closed = forms.BooleanField(
        required=False, label="Closed: hands out nothing; reviewers see it as closed, done work stays"
    )

    def settings(self) -> dict:
        return {**super().settings(), "closed": self.cleaned_data["closed"]}


def edit_initial(queue: ReviewQueue) -> dict:
    return {
        "name": queue.name,
        "instructions": queue.instructions,
        "overlap": queue.overlap,
        "assignment": queue.assignment,
        "blind": queue.blind,
        "reviewers": list(queue.reviewers.all()),
        "due_at": queue.due_at,
        "gold_rate": queue.gold_rate,
        "gold_accuracy_threshold": queue.gold_accuracy_threshold,
        "adjudicators": list(queue.adjudicators.all()),
        "closed": queue.closed_at is not None,
    }


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


class RemoveItemsForm(forms.Form):
    # Checked by the service (malformed ids are refused, ids not in the queue reported).
    request_ids = forms.TypedMultipleChoiceField(coerce=str)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["request_ids"].valid_value = lambda value: True


class ItemFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "Any"), *ItemStatus.choices], required=False)
    reviewer = forms.ChoiceField(choices=(), required=False)
    disagreement = forms.BooleanField(required=False, label="Reviewers disagree")
    page = forms.IntegerField(required=False, min_value=1)

    def __init__(self, *args, reviewers=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reviewer"].choices = [("", "Anyone"), *((e, e) for e in reviewers)]


class RequeueForm(forms.Form):
    version = forms.IntegerField(min_value=1)
