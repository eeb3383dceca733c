from django import forms

from reviewapp.queues.models import ReviewQueue

from . import llm
from .metrics import METRICS
from .models import Judge

METRIC_CHOICES = [("", "The kind's first")] + [
    (metric, f"{metric} ({kind})") for kind, metrics in METRICS.items() for metric in metrics
]


class ModelFields(forms.Form):
    """An LLM judge's instructions and judge model (judges.llm)."""

    instructions = forms.CharField(
        required=False,
        max_length=llm.MAX_INSTRUCTIONS,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="LLM judges, custom: the prompt, naming {{ inputs }} (the question), {{ outputs }} "
        "(the answer) and/or {{ expectations }} (the reviewers' correction); guidelines: one per line",
    )
    model = forms.CharField(
        required=False,
        max_length=200,
        label="Judge model",
        help_text="LLM judges: the model name the endpoint serves",
    )
    endpoint_url = forms.CharField(
        required=False,
        max_length=2000,
        label="Endpoint URL",
        help_text="An OpenAI-compatible endpoint, e.g. https://llm.example.com/v1",
    )
    key_env = forms.CharField(
        required=False,
        max_length=100,
        label="Key variable",
        help_text="The NAME of the server's environment variable holding the key (e.g. CHAIN_SECRET_JUDGE), never the key",
    )


class JudgeForm(ModelFields):
    name = forms.CharField(
        max_length=80, help_text="lower-case letters, digits and '_', starting with a letter"
    )
    kind = forms.ChoiceField(choices=Judge.Kind.choices)
    metric = forms.ChoiceField(choices=METRIC_CHOICES, required=False)
    threshold = forms.FloatField(
        required=False,
        min_value=0,
        max_value=1,
        help_text="A score at or above it passes (blank: the metric's default)",
    )
    field_order = ["name", "kind", "metric", "threshold", "instructions", "model", "endpoint_url", "key_env"]


class ChangeForm(ModelFields):
    metric = forms.ChoiceField(choices=METRIC_CHOICES, required=False)
    threshold = forms.FloatField(required=False, min_value=0, max_value=1)
    sample_percent = forms.FloatField(
        required=False,
        min_value=0,
        max_value=100,
        label="Judge this % of new turns",
        help_text="Judges that read no correction; 0: none",
    )
    daily_cap = forms.IntegerField(
        required=False, min_value=0, max_value=1_000_000, label="At most this many a day"
    )
    field_order = ["metric", "threshold", "instructions", "model", "endpoint_url", "key_env"]

    def __init__(self, *args, kind: str, **kwargs):
        super().__init__(*args, **kwargs)
        if kind != Judge.Kind.LLM:
            for name in ModelFields.base_fields:
                del self.fields[name]


class QueueForm(forms.Form):
    queue = forms.ModelChoiceField(queryset=ReviewQueue.objects.none(), empty_label=None)

    def __init__(self, *args, app, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["queue"].queryset = ReviewQueue.objects.filter(app=app).taking_requests()
