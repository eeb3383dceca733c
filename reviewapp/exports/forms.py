import uuid

from django import forms

from reviewapp.catalog.models import App

from .models import SET_NAME_HELP, CustomJudge
from .rows import BUILTIN_JUDGES, RULE_HELP
from .services import MAX_EXAMPLES_PER_JUDGE, MIN_EXAMPLES_PER_JUDGE


class SelectionForm(forms.Form):
    scope = forms.ChoiceField(
        choices=[("selected", "The requests I ticked"), ("all", "All requests that match the filters")],
        initial="all",
        widget=forms.RadioSelect,
    )
    rule = forms.ChoiceField(
        choices=[(k, f"{k.replace('_', ' ').capitalize()}: {v}") for k, v in RULE_HELP.items()],
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
    examples_per_judge = forms.IntegerField(
        min_value=MIN_EXAMPLES_PER_JUDGE, max_value=MAX_EXAMPLES_PER_JUDGE, initial=10
    )
    holdout_set = forms.ChoiceField(
        required=False, label="Keep out of the examples everything in evaluation set"
    )
    holdout_by = forms.ChoiceField(
        choices=[("request", "same request"), ("conversation", "same conversation")], initial="conversation"
    )

    def __init__(self, *args, app: App, **kwargs):
        super().__init__(*args, **kwargs)
        custom = list(CustomJudge.objects.filter(app=app).values_list("name", flat=True))
        self.fields["judges"].choices = [(j, j) for j in list(BUILTIN_JUDGES) + custom]
        self.fields["judges"].initial = list(BUILTIN_JUDGES) + custom
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
