from celery import shared_task

from reviewapp.jobs.leases import Busy, LeaseLost, let_go, retry_while_busy
from reviewapp.jobs.sending import send
from reviewapp.jobs.services import run_job_task

from . import mlflow_sync, summary
from .models import MlflowSync

# Another worker on the same chain usually finishes in seconds: look again soon, then less often.
BUSY_MAX_RETRIES = 20


@shared_task(bind=True, max_retries=5)
def sync_to_mlflow(self, sync_id: int) -> str:
    """Write one assessment (and earlier open ones of the same reviewer) back to its MLflow trace.

    Bounded retries with back-off; after them the row stays `failed` for the periodic sweep.
    """
    try:
        return mlflow_sync.sync_chain(sync_id)
    except MlflowSync.DoesNotExist:
        return "gone"
    except Busy as busy:
        countdown = 5 * 2 ** min(self.request.retries, 6)
        return retry_while_busy(self, busy, max_retries=BUSY_MAX_RETRIES, countdown=countdown)
    except LeaseLost as lost:
        return let_go(self, lost)
    except Exception as exc:
        raise self.retry(exc=exc, countdown=min(300, 10 * 2**self.request.retries)) from exc


@shared_task
def sweep_mlflow_sync(limit: int = 500) -> int:
    """Queue the write-back of rows left pending or failed (e.g. after a tracking-store outage)."""
    ids = list(mlflow_sync.due_for_retry().order_by("updated_at").values_list("pk", flat=True)[:limit])
    for sent, sync_id in enumerate(ids):
        if not send(sync_to_mlflow, (sync_id,)):
            return sent  # the broker is down: the next sweep tries again
    return len(ids)


@shared_task(name="reviewapp.feedback.rebuild_summaries", bind=True, acks_late=True)
def rebuild_summaries(self, job_id: str) -> str:
    """Run a rebuild job; re-delivery is safe (the job is claimed once, a rebuild can run twice)."""
    return run_job_task(self, job_id, summary.rebuild_job)


@shared_task(name="reviewapp.feedback.catch_up_summaries")
def catch_up_summaries() -> int:
    """Sum feedback recorded since the last sum (readers do it too; this keeps their wait short)."""
    return summary.catch_up()
