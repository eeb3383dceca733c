from rest_framework import serializers

from reviewapp.lib.serializers import DeclaredFieldsOnce, ModelFieldsOnce, Text

from . import output
from .models import Assessment
from .services import FIELDS, LIST_LIMIT, SHORT_TEXT_LIMIT, TEXT_LIMIT_BYTES

# Sizes are checked here, before any work; the service still measures texts in bytes.
MAX_POSITION = 100_000


class RetrievalAssessmentIn(serializers.Serializer):
    position = serializers.IntegerField(min_value=0, max_value=MAX_POSITION)
    rating = serializers.ChoiceField(
        choices=["relevant", "not_relevant"], allow_null=True, help_text="null removes this chunk's rating"
    )
    comment = Text(required=False, allow_blank=True, trim_whitespace=False, max_length=TEXT_LIMIT_BYTES)


class MissingSourceIn(serializers.Serializer):
    any_of_required = ("doc_uri", "content")  # the schema says so too (front.api_schema)

    doc_uri = Text(required=False, allow_blank=True, max_length=SHORT_TEXT_LIMIT)
    content = Text(required=False, allow_blank=True, trim_whitespace=False, max_length=TEXT_LIMIT_BYTES)


class FeedbackIn(DeclaredFieldsOnce, serializers.Serializer):
    """Fields absent are left as they are in the reviewer's effective feedback."""

    refuses_unknown_fields = True  # see validate; the schema says additionalProperties: false
    any_of_required = FIELDS  # "Nothing to record" otherwise (api.FeedbackApi); the schema says so too

    request_id = serializers.UUIDField()
    assessment_id = serializers.UUIDField(
        required=False, help_text="Client-chosen id: sending the same id again stores nothing new"
    )
    rating = serializers.ChoiceField(
        choices=["positive", "negative"], required=False, allow_null=True, allow_blank=True
    )
    reasons = serializers.ListField(
        child=Text(max_length=SHORT_TEXT_LIMIT), required=False, max_length=LIST_LIMIT
    )
    other_reason = Text(required=False, allow_blank=True, max_length=SHORT_TEXT_LIMIT)
    comment = Text(required=False, allow_blank=True, trim_whitespace=False, max_length=TEXT_LIMIT_BYTES)
    corrected_response = Text(
        required=False, allow_blank=True, allow_null=True, trim_whitespace=False, max_length=TEXT_LIMIT_BYTES
    )
    retrieval_assessments = RetrievalAssessmentIn(many=True, required=False, max_length=LIST_LIMIT)
    missing_sources = MissingSourceIn(many=True, required=False, max_length=LIST_LIMIT)

    def validate(self, attrs):
        unknown = set(self.initial_data) - set(self.fields)
        if unknown:
            raise serializers.ValidationError(dict.fromkeys(sorted(unknown), "Unknown field."))
        return attrs


class AssessmentOut(ModelFieldsOnce, serializers.ModelSerializer):
    # The schema (drf-spectacular reads it); the API answers with output.assessment_out, the same dict.
    request_id = serializers.UUIDField(source="request.pk", read_only=True)
    app = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    source = serializers.SerializerMethodField()
    effective = serializers.SerializerMethodField()
    mlflow_sync = serializers.SerializerMethodField()

    class Meta:
        model = Assessment
        fields = [
            "assessment_id",
            "request_id",
            "app",
            "source",
            "created_at",
            *FIELDS,
            "app_version",
            "instructions_version",
            "queue",
            "effective",
            "mlflow_sync",
        ]

    def get_source(self, row) -> dict:
        return {"source_type": "HUMAN", "source_id": row.source_id}

    def get_effective(self, row) -> bool:
        """True for the reviewer's latest row on the request (what they think now)."""
        return output.is_effective(row)

    def get_mlflow_sync(self, row) -> str | None:
        """pending / done / failed / skipped; null when the request has no MLflow trace."""
        return output.mlflow_sync_status(row)


class PassageOut(serializers.Serializer):
    number = serializers.IntegerField(help_text="As the answer cites it: [1] is the first passage")
    position = serializers.IntegerField(help_text="What retrieval_assessments name")
    doc_uri = serializers.CharField()
    content = serializers.CharField(allow_blank=True)
    spans = serializers.ListField(child=serializers.CharField(), help_text="The spans that returned it")


class TraceSummaryOut(serializers.Serializer):
    mlflow_trace_id = serializers.CharField(allow_blank=True)
    spans = serializers.IntegerField(help_text="How many spans the trace holds (0: no trace)")
    latency_ms = serializers.IntegerField(allow_null=True)
    request_tokens = serializers.IntegerField(allow_null=True)
    response_tokens = serializers.IntegerField(allow_null=True)
    total_tokens = serializers.IntegerField(allow_null=True)


class ReviewItemOut(serializers.Serializer):
    # The schema; the API answers with output.review_item_out, the same dict.
    request_id = serializers.UUIDField()
    conversation_id = serializers.CharField()
    app_version = serializers.CharField(allow_blank=True)
    source = serializers.CharField()
    status = serializers.CharField(help_text="ok, incomplete (the answer stopped part-way) or error")
    created_at = serializers.DateTimeField()
    messages = serializers.ListField(
        child=serializers.DictField(), help_text="The conversation up to this turn"
    )
    response = serializers.CharField(allow_blank=True)
    error = serializers.CharField(
        allow_blank=True,
        help_text="Why the turn failed or stopped, in words; the app's managers get the details",
    )
    passages = PassageOut(many=True)
    trace = TraceSummaryOut()
    feedback = AssessmentOut(
        allow_null=True, help_text="Your effective feedback on it; null before you gave any"
    )
