from rest_framework import serializers

from .models import Assessment
from .services import FIELDS, SHORT_TEXT_LIMIT


class RetrievalAssessmentIn(serializers.Serializer):
    position = serializers.IntegerField(min_value=0)
    rating = serializers.ChoiceField(
        choices=["relevant", "not_relevant"], allow_null=True, help_text="null removes this chunk's rating"
    )
    comment = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)


class MissingSourceIn(serializers.Serializer):
    doc_uri = serializers.CharField(required=False, allow_blank=True, max_length=SHORT_TEXT_LIMIT)
    content = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)


class FeedbackIn(serializers.Serializer):
    """Fields absent are left as they are in the reviewer's effective feedback."""

    request_id = serializers.UUIDField()
    assessment_id = serializers.UUIDField(
        required=False, help_text="Client-chosen id: sending the same id again stores nothing new"
    )
    rating = serializers.ChoiceField(
        choices=["positive", "negative"], required=False, allow_null=True, allow_blank=True
    )
    reasons = serializers.ListField(child=serializers.CharField(), required=False)
    other_reason = serializers.CharField(required=False, allow_blank=True, max_length=SHORT_TEXT_LIMIT)
    comment = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    corrected_response = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, trim_whitespace=False
    )
    retrieval_assessments = RetrievalAssessmentIn(many=True, required=False)
    missing_sources = MissingSourceIn(many=True, required=False)

    def validate(self, attrs):
        unknown = set(self.initial_data) - set(self.fields)
        if unknown:
            raise serializers.ValidationError(dict.fromkeys(sorted(unknown), "Unknown field."))
        return attrs


class AssessmentOut(serializers.ModelSerializer):
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
        if hasattr(row, "is_effective"):
            return row.is_effective
        return not Assessment.objects.newer_than(row).exists()

    def get_mlflow_sync(self, row) -> str | None:
        """pending / done / failed / skipped; null when the request has no MLflow trace."""
        if not row.request.mlflow_trace_id:
            return None
        try:
            return row.mlflow_sync.status
        except Assessment.mlflow_sync.RelatedObjectDoesNotExist:
            return None


class AssessmentFilter(serializers.Serializer):
    since = serializers.DateTimeField(required=False, help_text="assessments made at or after")
    until = serializers.DateTimeField(required=False, help_text="assessments made before")
    source = serializers.ChoiceField(choices=["review_app", "rest_api", "import"], required=False)
    app_version = serializers.CharField(required=False)
    rating = serializers.ChoiceField(choices=["positive", "negative", "none"], required=False)
    reviewer = serializers.EmailField(required=False)
    request_id = serializers.UUIDField(required=False)
    effective = serializers.BooleanField(
        required=False, allow_null=True, default=None, help_text="true: only each reviewer's latest row"
    )
