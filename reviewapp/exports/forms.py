import uuid

from django import forms

from reviewapp.catalog.models import App
from reviewapp.feedback.models import Assessment

from . import rows as R
from .models import SET_NAME_HELP, CustomJudge
from .selection import Filters

TRI = [("", "Any"), ("yes", "Yes"), ("no", "No")]


def _tri(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


class CurationFilterForm(forms.Form):
    """The curation screen's filters (GET); also carried, hidden, by the export forms."""

    rating = forms.ChoiceField(required=False, choices=[("", "Any")] + list(Assessment.Rating.choices))
    reasons = forms.MultipleChoiceField(required=False, widget=forms.SelectMultiple(attrs={"size": 4}))
    has_correction = forms.ChoiceField(required=False, choices=TRI, label="Has a correction")
    has_chunk_ratings = forms.ChoiceField(required=False, choices=TRI, label="Has chunk ratings")
    reviewer = forms.ChoiceField(required=False)
    app_version = forms.ChoiceField(required=False, label="App version")
    queue = forms.ChoiceField(required=False)
    agreement = forms.ChoiceField(
        required=False, choices=[("", "Any"), ("all_agree", "All agree"), ("disagree", "Reviewers disagree")]
    )
    since = forms.DateTimeField(
        required=False, label="From", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    until = forms.DateTimeField(
        required=False, label="Until", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )

    def __init__(self, *args, app: App, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reasons"].choices = [(r, r) for r in app.reasons or []]
        reviewers = (
            Assessment.objects.filter(app=app)
            .order_by("source_id")
            .values_list("source_id", flat=True)
            .distinct()
        )
        self.fields["reviewer"].choices = [("", "Anyone")] + [(r, r) for r in reviewers]
        versions = app.requests.order_by("app_version").values_list("app_version", flat=True).distinct()
        self.fields["app_version"].choices = [("", "Any")] + [(v, v) for v in versions if v]
        self.fields["queue"].choices = [("", "Any")] + [(str(q.pk), q.name) for q in app.queues.all()]

    def to_filters(self, request_ids=()) -> Filters:
        data = self.cleaned_data
        return Filters(
            rating=data["rating"],
            reasons=tuple(data["reasons"]),
            has_correction=_tri(data["has_correction"]),
            has_chunk_ratings=_tri(data["has_chunk_ratings"]),
            reviewer=data["reviewer"],
            app_version=data["app_version"],
            queue=int(data["queue"]) if data["queue"] else None,
            agreement=data["agreement"],
            since=data["since"],
            until=data["until"],
            request_ids=tuple(str(r) for r in request_ids),
        )


class SelectionForm(forms.Form):
    scope = forms.ChoiceField(
        choices=[("selected", "The requests I ticked"), ("all", "All requests that match the filters")],
        initial="all",
        widget=forms.RadioSelect,
    )
    rule = forms.ChoiceField(
        choices=[(k, f"{k.replace('_', ' ').capitalize()}: {v}") for k, v in R.RULE_HELP.items()],
        initial="majority",
        label="Where reviewers disagree",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.picked = [
            str(v) for v in (self.data.getlist("request_ids") if hasattr(self.data, "getlist") else [])
        ]

    def clean(self):
        data = super().clean()
        if data.get("scope") == "selected" and not self.picked:
            raise forms.ValidationError("Tick at least one request, or export all that match.")
        try:
            self.picked = [str(uuid.UUID(value)) for value in self.picked]
        except ValueError:
            raise forms.ValidationError("The ticked requests are not valid request ids.") from None
        return data

    def picked_ids(self) -> list[str]:
        return self.picked if self.cleaned_data["scope"] == "selected" else []


class EvaluationSetForm(SelectionForm):
    name = forms.CharField(max_length=80, help_text=f"Evaluation set name: {SET_NAME_HELP}.")
    include_outputs = forms.BooleanField(
        required=False, label="Add the chain's outputs (response, retrieved_context)"
    )
    field_order = ["name", "scope", "rule", "include_outputs"]


class JudgeExportForm(SelectionForm):
    judges = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple)
    examples_per_judge = forms.IntegerField(min_value=2, max_value=1000, initial=10)
    holdout_set = forms.ChoiceField(
        required=False, label="Keep out of the examples everything in evaluation set"
    )
    holdout_by = forms.ChoiceField(
        choices=[("request", "same request"), ("conversation", "same conversation")], initial="conversation"
    )

    def __init__(self, *args, app: App, **kwargs):
        super().__init__(*args, **kwargs)
        custom = list(CustomJudge.objects.filter(app=app).values_list("name", flat=True))
        self.fields["judges"].choices = [(j, j) for j in list(R.BUILTIN_JUDGES) + custom]
        self.fields["judges"].initial = list(R.BUILTIN_JUDGES) + custom
        self.fields["holdout_set"].choices = [("", "(no hold-out)")] + [
            (s.name, s.name) for s in app.evaluation_sets.all()
        ]


class CustomJudgeForm(forms.Form):
    name = forms.CharField(max_length=80, help_text="lower-case letters, digits and '_'")
    type = forms.ChoiceField(choices=CustomJudge.Type.choices)
    definition = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=10_000)
    reasons = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Feedback reasons that mean this judge should answer false.",
    )

    def __init__(self, *args, app: App, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reasons"].choices = [(r, r) for r in app.reasons or []]
