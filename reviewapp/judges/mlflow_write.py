"""Write-back of judge results to their requests' MLflow traces, as MLflow 3 feedback of source
LLM_JUDGE (an LLM judge) or CODE (a metric), named after the judge.

A result is written once: a worker takes it with a conditional UPDATE (pending or failed →
writing), logs the feedback and keeps its id; a tracking store that is down leaves it failed, and
the sweep sends what is still open (never sent, failed, or held by a worker that died) again.
An error result is no verdict and is not written; nor is a request without a trace.
"""

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from reviewapp.chains import mlflow_setup

from .models import JudgeResult

log = logging.getLogger(__name__)
Status = JudgeResult.MlflowStatus
HELD_FOR = timedelta(minutes=5)  # a writing row older than this lost its worker
QUIET_FOR = timedelta(minutes=1)  # a fresh pending row has its message on the way


def status_for(trace_id: str, value: str) -> str:
    """A new result's write-back status: pending when there is a trace and a verdict to write."""
    return Status.PENDING if trace_id and value != JudgeResult.Value.ERROR else Status.NONE


def send_pending(version, request_ids: list[str]) -> None:
    """Once committed, queue the write-back of the version's results on these requests that wait for it."""
    ids = list(
        JudgeResult.objects.filter(
            version=version, request_id__in=request_ids, mlflow_status=Status.PENDING
        ).values_list("pk", flat=True)
    )
    if ids:
        transaction.on_commit(lambda: send_for(ids))


def send_for(result_ids: list[int]) -> None:
    """Queue the write-back of these results (call once they are committed)."""
    from reviewapp.jobs.sending import send

    from .tasks import write_back_task

    for start in range(0, len(result_ids), 200):
        send(write_back_task, args=(result_ids[start : start + 200],))


def write_back(result_ids: list[int]) -> dict[str, int]:
    """Log each open result of `result_ids` on its trace; stops at the first tracking-store error
    (the rest stay open for the sweep). Returns how many ended in each status."""
    counts: dict[str, int] = {}
    mlflow = None
    for result_id in result_ids:
        now = timezone.now()
        taken = JudgeResult.objects.filter(
            pk=result_id, mlflow_status__in=[Status.PENDING, Status.FAILED]
        ).update(mlflow_status=Status.WRITING, mlflow_tried_at=now)
        if not taken:
            continue
        result = JudgeResult.objects.select_related("version__judge", "request").get(pk=result_id)
        mlflow = mlflow or mlflow_setup.configure()
        try:
            assessment_id = _log(mlflow, result)
        except mlflow.exceptions.MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                _finish(result, Status.SKIPPED, error=str(exc))  # a trace of another store
                counts[Status.SKIPPED] = counts.get(Status.SKIPPED, 0) + 1
                continue
            _finish(result, Status.FAILED, error=str(exc))
            counts[Status.FAILED] = counts.get(Status.FAILED, 0) + 1
            break
        except Exception as exc:
            _finish(result, Status.FAILED, error=f"{type(exc).__name__}: {exc}")
            counts[Status.FAILED] = counts.get(Status.FAILED, 0) + 1
            break
        _finish(result, Status.DONE, assessment_id=assessment_id)
        counts[Status.DONE] = counts.get(Status.DONE, 0) + 1
    return counts


def _log(mlflow, result: JudgeResult) -> str:
    from mlflow.entities import AssessmentSource

    version = result.version
    llm = result.source_type == JudgeResult.SourceType.LLM_JUDGE
    source = AssessmentSource(
        source_type="LLM_JUDGE" if llm else "CODE",
        source_id=(version.model if llm else "") or f"reviewapp:{version.judge.name} v{version.number}",
    )
    metadata = {
        "judge_version": str(version.number),
        "reviewapp_result_id": str(result.pk),
        "metric": version.metric,
        "score": "" if result.score is None else f"{result.score:.6g}",
    }
    if result.latency_ms is not None:
        metadata["latency_ms"] = str(result.latency_ms)
    if result.input_tokens is not None:
        metadata["input_tokens"] = str(result.input_tokens)
        metadata["output_tokens"] = str(result.output_tokens)
    logged = mlflow.log_feedback(
        trace_id=result.request.mlflow_trace_id,
        name=version.judge.name,
        value=result.value == JudgeResult.Value.PASS,
        source=source,
        rationale=result.rationale or None,
        metadata=metadata,
    )
    return logged.assessment_id


def _finish(result: JudgeResult, status: str, *, assessment_id: str = "", error: str = "") -> None:
    JudgeResult.objects.filter(pk=result.pk, mlflow_status=Status.WRITING).update(
        mlflow_status=status, mlflow_assessment_id=assessment_id, mlflow_error=error[:4000]
    )


def open_results(now=None):
    """What the sweep sends again: open results nobody is on (or whose worker died)."""
    now = now or timezone.now()
    waiting = Q(mlflow_status__in=[Status.PENDING, Status.FAILED]) & (
        Q(mlflow_tried_at__lt=now - QUIET_FOR)
        | Q(mlflow_tried_at__isnull=True, created_at__lt=now - QUIET_FOR)
    )
    abandoned = Q(mlflow_status=Status.WRITING, mlflow_tried_at__lt=now - HELD_FOR)
    return JudgeResult.objects.filter(waiting | abandoned)


def sweep(limit: int = 2000) -> int:
    """Send again the write-back of open results; a writing one whose worker died is reopened."""
    now = timezone.now()
    JudgeResult.objects.filter(mlflow_status=Status.WRITING, mlflow_tried_at__lt=now - HELD_FOR).update(
        mlflow_status=Status.FAILED, mlflow_error="The worker writing it stopped; written again."
    )
    ids = list(open_results(now).order_by("pk").values_list("pk", flat=True)[:limit])
    send_for(ids)
    return len(ids)
