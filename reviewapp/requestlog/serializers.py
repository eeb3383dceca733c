from rest_framework import serializers

from reviewapp.jobs.serializers import JobSerializer
from reviewapp.lib.serializers import Text

from .models import Request


class RequestLogRowOutput(serializers.ModelSerializer):
    user = serializers.SlugRelatedField(slug_field="email", read_only=True)

    class Meta:
        model = Request
        fields = [
            "request_id",
            "created_at",
            "app_version",
            "conversation_id",
            "source",
            "user",
            "status",
            "error",
            "messages",
            "response",
            "mlflow_trace_id",
            "latency_ms",
            "load_ms",
            "text_altered",
            "request_tokens",
            "response_tokens",
            "total_tokens",
        ]


class MlflowSourceInput(serializers.Serializer):
    experiment = Text(max_length=500, help_text="Experiment id or name")
    filter_string = Text(max_length=1000, required=False, allow_blank=True, default="")
    max_results = serializers.IntegerField(min_value=1, max_value=1_000_000, required=False, allow_null=True)


class TracesImportInput(serializers.Serializer):
    """Either `rows` (inference-table rows, as in a JSONL upload) or `mlflow` (an experiment)."""

    one_of_required = ("rows", "mlflow")  # the schema says so too (front.api_schema)

    rows = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        allow_empty=False,
        min_length=1,
        max_length=100_000,
        help_text="Objects with request (messages or text), response, and optionally request_id, "
        "trace, timestamp, conversation_id, app_version; a bad row is reported, not fatal. request_id "
        "is a UUID (kept as it is) or any other text (mapped to one stable UUID per app, so sending "
        "it again adds nothing); a row without one gets a new UUID each time",
    )
    mlflow = MlflowSourceInput(required=False)

    def validate(self, data):
        if ("rows" in data) == ("mlflow" in data):
            raise serializers.ValidationError(
                {"detail": "send either `rows` or `mlflow`, not both or neither"}
            )
        return data


class TracesImportOutput(serializers.Serializer):
    job_id = serializers.UUIDField()
    status_url = Text(help_text="GET it for progress and, when done, the per-row report")
    job = JobSerializer()
