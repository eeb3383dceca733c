from django.core.validators import RegexValidator
from django.urls import reverse
from rest_framework import serializers

from reviewapp.lib.serializers import Flag, Text

from .models import (
    JUDGE_NAME_RE,
    SET_NAME_HELP,
    SET_NAME_RE,
    CustomJudge,
    EvaluationSetVersion,
    JudgeExport,
)
from .rows import RULE_HELP, RULES
from .services import MAX_EXAMPLES_PER_JUDGE, MIN_EXAMPLES_PER_JUDGE

# Sizes are checked here, before any work: ids fit a 64-bit column, lists and texts stay small.
MAX_ID = 2**63 - 1
MAX_LIST = 1000


class FiltersInput(serializers.Serializer):
    rating = serializers.ChoiceField(choices=["", "positive", "negative"], required=False, default="")
    reasons = serializers.ListField(
        child=Text(max_length=200), required=False, default=list, max_length=MAX_LIST
    )
    has_correction = Flag(required=False, allow_null=True, default=None)
    has_chunk_ratings = Flag(required=False, allow_null=True, default=None)
    reviewer = serializers.EmailField(required=False, default="", max_length=254)
    app_version = Text(required=False, default="", max_length=100)
    status = serializers.ChoiceField(
        choices=["", "ok", "incomplete", "error"], required=False, default="", help_text="The answer's status"
    )
    queue = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=1, max_value=MAX_ID
    )
    agreement = serializers.ChoiceField(choices=["", "all_agree", "disagree"], required=False, default="")
    since = serializers.DateTimeField(required=False, allow_null=True, default=None)
    until = serializers.DateTimeField(required=False, allow_null=True, default=None)
    judge = Text(
        required=False, default="", max_length=80, help_text="The current version of this judge judged it"
    )
    judge_said = serializers.ChoiceField(
        choices=["", "pass", "fail", "error"],
        required=False,
        default="",
        help_text="With judge: what it said",
    )


class SelectionInput(serializers.Serializer):
    filters = FiltersInput(required=False, default=dict)
    request_ids = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        default=list,
        max_length=100_000,
        help_text="Only these (empty: all that match)",
    )
    rule = serializers.ChoiceField(choices=list(RULES), default="majority", help_text=str(RULE_HELP))


class EvaluationSetExportInput(SelectionInput):
    name = Text(
        max_length=80,
        # The service's words (models.validate_set_name), with the name given.
        validators=[RegexValidator(SET_NAME_RE, "%(value)r is not a valid set name: use " + SET_NAME_HELP)],
    )
    include_outputs = Flag(default=False)


class JudgeExportInput(SelectionInput):
    judges = serializers.ListField(
        child=Text(max_length=80), required=False, default=list, max_length=MAX_LIST
    )
    examples_per_judge = serializers.IntegerField(
        min_value=MIN_EXAMPLES_PER_JUDGE, max_value=MAX_EXAMPLES_PER_JUDGE, default=10
    )
    holdout_set = Text(required=False, default="", allow_blank=True, max_length=80)
    holdout_by = serializers.ChoiceField(choices=["request", "conversation"], default="conversation")


class JobStartedOutput(serializers.Serializer):
    job_id = serializers.UUIDField()
    status = Text()
    status_url = Text()
    progress_url = Text()


class VersionOutput(serializers.ModelSerializer):
    name = Text(source="evaluation_set.name")
    files = serializers.SerializerMethodField()
    created_by = Text(source="created_by.email", default=None)
    job_id = serializers.UUIDField(source="job.id")

    class Meta:
        model = EvaluationSetVersion
        fields = [
            "name",
            "number",
            "row_count",
            "created_at",
            "created_by",
            "job_id",
            "files",
            "manifest",
            "mlflow_status",
            "mlflow_error",
            "mlflow_attempts",
            "mlflow_experiment_id",
            "mlflow_run_id",
            "mlflow_dataset_id",
        ]

    def get_files(self, version) -> dict[str, str]:
        app = version.evaluation_set.app.slug
        request = self.context.get("request")
        out = {}
        for filename in sorted(version.files):
            url = reverse(
                "api-evaluation-set-file",
                args=[app, version.evaluation_set.name, version.number, filename],
            )
            out[filename] = request.build_absolute_uri(url) if request else url
        return out


class VersionBriefOutput(serializers.ModelSerializer):
    class Meta:
        model = EvaluationSetVersion
        fields = ["number", "row_count", "created_at", "mlflow_status"]


class EvaluationSetOutput(serializers.Serializer):
    name = Text()
    versions = VersionBriefOutput(many=True)


class JudgeExportOutput(serializers.ModelSerializer):
    files = serializers.SerializerMethodField()

    class Meta:
        model = JudgeExport
        fields = [
            "id",
            "example_count",
            "created_at",
            "files",
            "manifest",
            "trace_ids",
            "mlflow_status",
            "mlflow_error",
            "mlflow_run_id",
        ]

    def get_files(self, export) -> dict[str, str]:
        request = self.context.get("request")
        out = {}
        for filename in sorted(export.files):
            url = reverse("api-judge-export-file", args=[export.app.slug, export.pk, filename])
            out[filename] = request.build_absolute_uri(url) if request else url
        return out


class CustomJudgeSerializer(serializers.ModelSerializer):
    name = Text(
        max_length=80,
        validators=[
            RegexValidator(
                JUDGE_NAME_RE, "Use lower-case letters, digits and '_', starting with a letter (at most 80)."
            )
        ],
    )
    definition = Text(max_length=10_000)
    reasons = serializers.ListField(
        child=Text(max_length=200),
        required=False,
        default=list,
        max_length=MAX_LIST,
        help_text="Feedback reasons that mean this judge should say false",
    )

    class Meta:
        model = CustomJudge
        fields = ["name", "type", "definition", "reasons"]
