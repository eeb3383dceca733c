from rest_framework import serializers

from .models import Job
from .services import eta_seconds


class JobSerializer(serializers.ModelSerializer):
    app = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    eta_seconds = serializers.SerializerMethodField()

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
            "attempts",
            "created_at",
            "started_at",
            "finished_at",
            "error",
            "result",
        ]

    def get_eta_seconds(self, job) -> float | None:
        return eta_seconds(job)
