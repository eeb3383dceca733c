from django.core.management.base import BaseCommand

from reviewapp.feedback import mlflow_sync
from reviewapp.feedback.models import MlflowSync
from reviewapp.jobs.leases import Busy


class Command(BaseCommand):
    help = "Write pending or failed assessments back to their MLflow traces, here and now."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=10_000)

    def handle(self, *args, limit: int, **options):
        rows = (
            MlflowSync.objects.filter(status__in=mlflow_sync.OPEN)
            .order_by("assessment__created_at", "assessment__id")
            .values_list("pk", flat=True)[:limit]
        )
        counts = {"done": 0, "skipped": 0, "failed": 0, "busy": 0}
        for sync_id in list(rows):
            try:
                status = mlflow_sync.sync_chain(sync_id)
            except Busy:
                counts["busy"] += 1
                continue
            except Exception as exc:  # noqa: BLE001 - reported, kept as failed, retried next time
                counts["failed"] += 1
                self.stderr.write(f"{sync_id}: {type(exc).__name__}: {exc}")
                continue
            counts[status if status in counts else "done"] += 1
        left = MlflowSync.objects.filter(status__in=mlflow_sync.OPEN).count()
        self.stdout.write(", ".join(f"{k} {v}" for k, v in counts.items()) + f"; still open {left}")
        return None
