"""An adjudication written to its request's MLflow trace as the final expectations.

The row is claimed with a conditional UPDATE (one worker at a time, fenced by `mlflow_attempts`),
written through feedback.mlflow_sync.write_final_expectations, and marked done only for the
revision it wrote: a change saved meanwhile leaves it pending, for the task that change queued.
"""

from datetime import timedelta

from django.utils import timezone

from reviewapp.feedback import mlflow_sync
from reviewapp.jobs.leases import Lease, LeaseLost

from .models import Adjudication, MlflowStatus

LEASE = Lease(timedelta(minutes=5), until="mlflow_locked_until", attempts="mlflow_attempts")
OPEN = (MlflowStatus.PENDING, MlflowStatus.FAILED)


def final_values(adjudication: Adjudication) -> dict:
    """The expectations the adjudicated label stands for, as the exports' "adjudicated" rule gives
    them: the correction, else the answer approved (when it came whole); the relevant passages."""
    request = adjudication.request
    if adjudication.corrected_response:
        expected = adjudication.corrected_response
    elif adjudication.rating == "positive" and request.status == request.Status.OK:
        expected = request.response
    else:
        expected = None
    relevant = adjudication.relevance()
    context = [
        {"doc_uri": p["doc_uri"], "content": p["content"]}
        for p in request.passages()
        if relevant.get(p["position"])
    ]
    return {"expected_response": expected, "expected_retrieved_context": context or None}


def write(adjudication_id: int) -> str:
    """Claim, write and release one adjudication; returns its status after. Raises Busy when another
    worker holds it, LeaseLost when one took it over, and the store's error (left failed)."""
    rows = Adjudication.objects.filter(pk=adjudication_id)
    row = rows.select_related("request", "adjudicator").get()
    if row.mlflow_status not in OPEN:
        return row.mlflow_status
    if not LEASE.claim(rows.filter(mlflow_status__in=OPEN), mlflow_status=MlflowStatus.PENDING):
        row = rows.get()
        if row.mlflow_status not in OPEN:
            return row.mlflow_status
        raise LEASE.busy(row, f"adjudication {adjudication_id}")
    row = rows.select_related("request", "adjudicator", "request__app").get()
    attempt, revision = row.mlflow_attempts, row.revision
    ids = dict(row.mlflow_ids)

    def save(name: str, entry: dict) -> None:
        ids[name] = entry
        LEASE.renew(rows, attempt, mlflow_ids=ids)

    try:
        status = mlflow_sync.write_final_expectations(
            trace_id=row.request.mlflow_trace_id,
            source_id=row.adjudicator.email if row.adjudicator else "adjudicator",
            values=final_values(row),
            metadata={
                "final": "true",
                "adjudication": str(row.pk),
                "revision": str(revision),
                "rating": row.rating,
                "note": row.note[:1000],
            },
            written=ids,
            save=save,
        )
    except LeaseLost:
        raise
    except Exception as exc:
        LEASE.release(
            rows,
            attempt,
            mlflow_status=MlflowStatus.FAILED,
            mlflow_error=f"{type(exc).__name__}: {exc}"[:4000],
        )
        raise
    # Done for this revision only: a change saved meanwhile stays pending for its own task.
    finished = rows.filter(mlflow_attempts=attempt, revision=revision).update(
        mlflow_status=status, mlflow_error="", **LEASE.released()
    )
    if not finished:
        LEASE.release(rows, attempt, mlflow_status=MlflowStatus.PENDING)
    return rows.values_list("mlflow_status", flat=True).get()


def due_for_retry(now=None):
    """Open rows nobody holds, untouched for a minute (fresh ones have a task queued)."""
    now = now or timezone.now()
    return Adjudication.objects.filter(
        mlflow_status__in=OPEN, updated_at__lt=now - timedelta(minutes=1)
    ).filter(LEASE.free(now))
