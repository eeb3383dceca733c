from django.urls import reverse
from rest_framework import serializers

from . import rows as R
from .models import CustomJudge, EvaluationSetVersion, JudgeExport


class FiltersInput(serializers.Serializer):
    rating = serializers.ChoiceField(choices=["", "positive", "negative"], required=False, default="")
    reasons = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    has_correction = serializers.BooleanField(required=False, allow_null=True, default=None)
    has_chunk_ratings = serializers.BooleanField(required=False, allow_null=True, default=None)
    reviewer = serializers.EmailField(required=False, default="")
    app_version = serializers.CharField(required=False, default="")
    queue = serializers.IntegerField(required=False, allow_null=True, default=None)
    agreement = serializers.ChoiceField(choices=["", "all_agree", "disagree"], required=False, default="")
    since = serializers.DateTimeField(required=False, allow_null=True, default=None)
    until = serializers.DateTimeField(required=False, allow_null=True, default=None)


class SelectionInput(serializers.Serializer):
    filters = FiltersInput(required=False, default=dict)
    request_ids = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        default=list,
        help_text="Only these (empty: all that match)",
    )
    rule = serializers.ChoiceField(choices=list(R.RULES), default="majority", help_text=str(R.RULE_HELP))


class EvaluationSetExportInput(SelectionInput):
    name = serializers.CharField(max_length=200)
    include_outputs = serializers.BooleanField(default=False)


class JudgeExportInput(SelectionInput):
    judges = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    examples_per_judge = serializers.IntegerField(min_value=1, max_value=1000, default=10)
    holdout_set = serializers.CharField(required=False, default="", allow_blank=True)
    holdout_by = serializers.ChoiceField(choices=["request", "conversation"], default="conversation")


class JobStartedOutput(serializers.Serializer):
    job_id = serializers.UUIDField()
    status = serializers.CharField()
    status_url = serializers.CharField()
    progress_url = serializers.CharField()


class VersionOutput(serializers.ModelSerializer):
    name = serializers.CharField(source="evaluation_set.name")
    files = serializers.SerializerMethodField()
    created_by = serializers.CharField(source="created_by.email", default=None)
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
    name = serializers.CharField()
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
    class Meta:
        model = CustomJudge
        fields = ["name", "type", "definition", "reasons"]
