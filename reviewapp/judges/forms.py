from django import forms

from reviewapp.queues.models import ReviewQueue

from .metrics import METRICS
from .models import Judge

METRIC_CHOICES = [("", "The kind's first")] + [
    (metric, f"{metric} ({kind})") for kind, metrics in METRICS.items() for metric in metrics
]


class JudgeForm(forms.Form):
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


class ChangeForm(forms.Form):
    metric = forms.ChoiceField(choices=METRIC_CHOICES, required=False)
    threshold = forms.FloatField(required=False, min_value=0, max_value=1)
    sample_percent = forms.FloatField(
        required=False,
        min_value=0,
        max_value=100,
        label="Judge this % of new turns",
        help_text="Groundedness judges; 0: none",
    )
    daily_cap = forms.IntegerField(
        required=False, min_value=0, max_value=1_000_000, label="At most this many a day"
    )


class QueueForm(forms.Form):
    queue = forms.ModelChoiceField(queryset=ReviewQueue.objects.none(), empty_label=None)

    def __init__(self, *args, app, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["queue"].queryset = ReviewQueue.objects.filter(app=app)
