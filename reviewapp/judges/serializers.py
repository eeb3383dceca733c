from django.core.validators import RegexValidator
from rest_framework import serializers

from reviewapp.exports.models import JUDGE_NAME_RE
from reviewapp.exports.serializers import FiltersInput
from reviewapp.lib.serializers import Flag, Text

from . import llm
from .metrics import METRICS, criterion
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
        help_text="Share of new turns judged as they come (judges that read no correction; 0: none)",
    )
    daily_cap = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=0,
        max_value=1_000_000,
        help_text="At most this many a day (UTC)",
    )


class _Model(serializers.Serializer):
    """An LLM judge's instructions and judge model (judges.llm)."""

    instructions = Text(
        required=False,
        allow_blank=True,
        max_length=llm.MAX_INSTRUCTIONS,
        help_text="custom: the prompt, naming {{ inputs }}, {{ outputs }} and/or {{ expectations }}; "
        "guidelines: one per line",
    )
    model = Text(
        required=False, allow_blank=True, max_length=200, help_text="The model name the endpoint serves"
    )
    endpoint_url = Text(
        required=False,
        allow_blank=True,
        max_length=2000,
        help_text="An OpenAI-compatible endpoint (its base, …/v1, or …/chat/completions)",
    )
    key_env = Text(
        required=False,
        allow_blank=True,
        max_length=100,
        help_text="The NAME of the environment variable holding the endpoint's key (never the key)",
    )


class JudgeInput(_Sampling, _Model):
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


class JudgeChangeInput(_Sampling, _Model):
    """Each field left out stays as it is."""

    metric = serializers.ChoiceField(choices=ALL_METRICS, required=False, default="")
    threshold = serializers.FloatField(
        required=False, allow_null=True, default=None, min_value=0, max_value=1
    )


class JudgeVersionOutput(serializers.Serializer):
    number = serializers.IntegerField()
    metric = serializers.CharField()
    threshold = serializers.FloatField()
    instructions = serializers.CharField()
    model = serializers.CharField()
    endpoint_url = serializers.CharField()
    key_env = serializers.CharField(help_text="The variable's name; the key is never shown")
    examples = serializers.SerializerMethodField(help_text="How many few-shot examples tuning gave it")
    tuned_from = serializers.IntegerField(
        source="tuned_from.number", allow_null=True, default=None, help_text="The version tuning started from"
    )
    held_out = serializers.SerializerMethodField(
        help_text="Requests held out of the examples, to measure it on"
    )
    created_at = serializers.DateTimeField()

    def get_held_out(self, version) -> int:
        return len(version.held_out)

    def get_examples(self, version) -> int:
        return len(version.examples)


class JudgeResultsOutput(serializers.Serializer):
    judged = serializers.IntegerField(help_text="Results of the current version, errors included")
    verdicts = serializers.IntegerField(help_text="Pass or fail")
    passed = serializers.IntegerField()
    errors = serializers.IntegerField(help_text="The judge model gave no verdict")
    error_rate = serializers.FloatField(allow_null=True)


class JudgeOutput(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.CharField()
    criterion = serializers.CharField(
        allow_null=True, help_text="The reviewers' label it is measured against"
    )
    version = JudgeVersionOutput(help_text="The current version")
    versions = JudgeVersionOutput(many=True)
    results = JudgeResultsOutput(help_text="What the current version said so far")
    sample_percent = serializers.FloatField()
    daily_cap = serializers.IntegerField()
    created_at = serializers.DateTimeField()

    @staticmethod
    def of(judge: Judge) -> dict:
        versions = list(judge.versions.all())
        return {
            "name": judge.name,
            "kind": judge.kind,
            "criterion": criterion(judge.kind, versions[-1].metric),
            "version": versions[-1],
            "versions": versions,
            "results": versions[-1].tally(),
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
    evaluation_set = Text(
        required=False,
        allow_blank=True,
        default="",
        max_length=80,
        help_text="Judge the requests of this evaluation set's version instead (filters and ids are then ignored)",
    )
    evaluation_set_version = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1,
        max_value=2**31 - 1,
        help_text="Default: its latest",
    )


class JudgeTuneInput(serializers.Serializer):
    override = Flag(
        required=False,
        default=False,
        help_text="Tune even though the reviewers agree with one another below kappa 0.4 on the criterion",
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
