from celery import shared_task

from reviewapp.jobs.leases import Busy, LeaseLost, let_go, retry_while_busy
from reviewapp.jobs.sending import send

from . import mlflow
from .models import Adjudication

BUSY_MAX_RETRIES = 20


@shared_task(bind=True, max_retries=5)
def write_to_mlflow(self, adjudication_id: int) -> str:
    """Write an adjudication to its request's trace as the final expectations; bounded retries,
    then the sweep."""
    try:
        status = mlflow.write(adjudication_id)
    except Adjudication.DoesNotExist:
        return "gone"
    except Busy as busy:
        return retry_while_busy(
            self, busy, max_retries=BUSY_MAX_RETRIES, countdown=5 * 2 ** min(self.request.retries, 6)
        )
    except LeaseLost as lost:
        return let_go(self, lost)
    except Exception as exc:
        raise self.retry(exc=exc, countdown=min(300, 10 * 2**self.request.retries)) from exc
    if status == "pending":
        # Changed while it was being written: write the new revision too.
        send(write_to_mlflow, (adjudication_id,))
    return status


@shared_task
def sweep_mlflow(limit: int = 500) -> int:
    """Send again the write-back of adjudications left pending or failed (a store that was down)."""
    ids = list(mlflow.due_for_retry().order_by("updated_at").values_list("pk", flat=True)[:limit])
    for sent, adjudication_id in enumerate(ids):
        if not send(write_to_mlflow, (adjudication_id,)):
            return sent
    return len(ids)
