from rest_framework import serializers

from .models import Job
from .services import eta_seconds


class JobSerializer(serializers.ModelSerializer):
    app = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    eta_seconds = serializers.SerializerMethodField()
    result = serializers.JSONField(
        read_only=True,
        help_text="What the finished job made, by kind. import_traces: rows_read, imported, "
        "already_present, bad_rows, errors [{line, reason, request_id?}], errors_truncated, source; "
        "from MLflow also experiment_id and other_apps (traces of another app's turns, left out).",
    )

    class Meta:
        model = Job
        fields = [
            "id",
            "kind",
            "app",
            "status",
            "params",
            "progress_done",
            "progress_total",
            "eta_seconds",
            "cancel_requested",
            "attempts",
            "created_at",
            "started_at",
            "finished_at",
            "error",
            "result",
        ]

    def get_eta_seconds(self, job) -> float | None:
        return eta_seconds(job)
