from django.core.validators import RegexValidator
from rest_framework import serializers

from reviewapp.exports.models import JUDGE_NAME_RE
from reviewapp.exports.serializers import FiltersInput
from reviewapp.lib.serializers import Text

from .metrics import CRITERION, METRICS
from .models import Judge
from .services import NAME_HELP

ALL_METRICS = ["", *dict.fromkeys(metric for metrics in METRICS.values() for metric in metrics)]


class _Sampling(serializers.Serializer):
    """How much live traffic a judge takes (judges.services.set_sampling)."""

    sample_percent = serializers.FloatField(
        required=False,
        allow_null=True,
        default=None,
        min_value=0,
        max_value=100,
        help_text="Share of new turns judged as they come (groundedness judges; 0: none)",
    )
    daily_cap = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=0,
        max_value=1_000_000,
        help_text="At most this many a day (UTC)",
    )


class JudgeInput(_Sampling):
    name = Text(
        max_length=80,
        help_text=NAME_HELP,
        validators=[RegexValidator(JUDGE_NAME_RE, "%(value)r is not a valid judge name: use " + NAME_HELP)],
    )
    kind = serializers.ChoiceField(choices=list(METRICS))
    metric = serializers.ChoiceField(
        choices=ALL_METRICS,
        required=False,
        default="",
        help_text="; ".join(f"{kind}: {', '.join(metrics)}" for kind, metrics in METRICS.items())
        + " (blank: the kind's first)",
    )
    threshold = serializers.FloatField(
        required=False,
        allow_null=True,
        default=None,
        min_value=0,
        max_value=1,
        help_text="A score at or above it passes (blank: the metric's default)",
    )


class JudgeChangeInput(_Sampling):
    metric = serializers.ChoiceField(choices=ALL_METRICS, required=False, default="")
    threshold = serializers.FloatField(
        required=False, allow_null=True, default=None, min_value=0, max_value=1
    )


class JudgeVersionOutput(serializers.Serializer):
    number = serializers.IntegerField()
    metric = serializers.CharField()
    threshold = serializers.FloatField()
    created_at = serializers.DateTimeField()


class JudgeOutput(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.CharField()
    criterion = serializers.CharField(
        allow_null=True, help_text="The reviewers' label it is measured against"
    )
    version = JudgeVersionOutput(help_text="The current version")
    versions = JudgeVersionOutput(many=True)
    sample_percent = serializers.FloatField()
    daily_cap = serializers.IntegerField()
    created_at = serializers.DateTimeField()

    @staticmethod
    def of(judge: Judge) -> dict:
        versions = list(judge.versions.all())
        return {
            "name": judge.name,
            "kind": judge.kind,
            "criterion": CRITERION[judge.kind],
            "version": versions[-1],
            "versions": versions,
            "sample_percent": judge.sample_percent,
            "daily_cap": judge.daily_cap,
            "created_at": judge.created_at,
        }


class JudgeRunInput(serializers.Serializer):
    filters = FiltersInput(required=False, default=dict, help_text="The curation filters (reviewed requests)")
    request_ids = serializers.ListField(
        child=serializers.UUIDField(), required=False, default=list, max_length=100_000
    )
    version = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=1, max_value=2**31 - 1
    )


class JudgeAgreementOutput(serializers.Serializer):
    version = serializers.IntegerField()
    criterion = serializers.CharField(allow_null=True)
    judged = serializers.IntegerField()
    compared = serializers.IntegerField()
    accuracy = serializers.FloatField(allow_null=True)
    kappa = serializers.FloatField(allow_null=True, help_text="Cohen's kappa, judge against reviewers")
    precision = serializers.FloatField(
        allow_null=True, help_text="Of the judge's fails, reviewers' fails too"
    )
    recall = serializers.FloatField(allow_null=True, help_text="Of the reviewers' fails, judge's fails too")
    confusion = serializers.DictField(
        child=serializers.DictField(child=serializers.IntegerField()),
        source="cells",
        help_text='{reviewers: {judge: count}}, each "pass" or "fail"',
    )
    items = serializers.DictField(
        child=serializers.DictField(child=serializers.ListField(child=serializers.CharField())),
        help_text="The request ids of each cell (the first 100)",
    )
    disagreements = serializers.ListField(child=serializers.CharField())
    note = serializers.CharField(allow_blank=True)
