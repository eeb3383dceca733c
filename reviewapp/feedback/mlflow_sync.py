"""Write-back of assessments to their MLflow traces as MLflow 3 assessments.

Each assessment row is the reviewer's whole feedback, so it maps to a set of MLflow items
(rating, comment, expected_response, expected_retrieved_context, one chunk_relevance per rated
chunk). A later row overrides the items that changed (`override_feedback`, or an expectation
with `overrides`), so MLflow keeps the history too. Rows of one (request, reviewer) are written
oldest first. Ids are saved after each item, so a retry never logs an item twice.

The worker holds a row under LEASE, and its writes are fenced by its claim (`attempts`): one
that was taken over gets LeaseLost and leaves the row to the new holder.
"""

import json
import logging
from datetime import timedelta

from django.utils import timezone

from reviewapp.chains import mlflow_setup
from reviewapp.jobs.leases import Lease, LeaseLost

from .models import Assessment, MlflowSync

log = logging.getLogger(__name__)
# A worker holds a row while it writes it; a crash frees it when the lease runs out.
LEASE = Lease(timedelta(minutes=5), until="locked_until")
OPEN = (MlflowSync.Status.PENDING, MlflowSync.Status.FAILED)


def _up_to(assessment: Assessment):
    """`assessment` and the earlier rows of the same reviewer on the same request."""
    return Assessment.objects.filter(
        request_id=assessment.request_id, reviewer_id=assessment.reviewer_id
    ).exclude(pk__in=Assessment.objects.later_than(assessment).values("pk"))


def claim(sync_id: int) -> bool:
    """Take an open row for this worker (a conditional UPDATE): two workers never write it both."""
    rows = MlflowSync.objects.filter(pk=sync_id, status__in=OPEN)
    return LEASE.claim(rows, updated_at=timezone.now())


def sync_chain(sync_id: int) -> str:
    """Write back `sync_id` and every earlier open row of the same (request, reviewer), in order.

    Returns the final status of `sync_id`; raises on a tracking-store error (the row is then
    `failed` and retried later), Busy when another worker is on the same chain and LeaseLost
    when another worker took a row over from this one.
    """
    target = MlflowSync.objects.select_related("assessment").get(pk=sync_id)
    if target.status not in OPEN:
        return target.status
    # Oldest first: `assessment` orders by the assessments' own ordering (newest first), reversed.
    chain = MlflowSync.objects.filter(assessment__in=_up_to(target.assessment), status__in=OPEN).order_by(
        "-assessment"
    )
    while (step := chain.first()) is not None:
        if not claim(step.pk):
            raise LEASE.busy(MlflowSync.objects.get(pk=step.pk), f"MLflow sync {step.pk}")
        _run(step.pk)
    return MlflowSync.objects.values_list("status", flat=True).get(pk=sync_id)


def _run(sync_id: int) -> None:
    """Write back a row this worker has just claimed (its `attempts` is the claim), and release it."""
    sync = MlflowSync.objects.select_related("assessment__request").get(pk=sync_id)
    held = MlflowSync.objects.filter(pk=sync_id)
    try:
        status = write_back(sync)
    except LeaseLost:
        raise  # the row is the new holder's: record nothing
    except Exception as exc:
        LEASE.release(
            held,
            sync.attempts,
            status=MlflowSync.Status.FAILED,
            last_error=f"{type(exc).__name__}: {exc}"[:4000],
            updated_at=timezone.now(),
        )
        raise
    done = {"status": status, "updated_at": timezone.now()}
    if status == MlflowSync.Status.DONE:
        done["last_error"] = ""
    LEASE.release(held, sync.attempts, **done)


def items_for(assessment: Assessment) -> dict[str, dict]:
    """The MLflow items one assessment row stands for, keyed so a later row can override them."""
    request = assessment.request
    chunks = {c.get("position"): c for c in request.chunks or []}
    meta = {
        "assessment_id": str(assessment.assessment_id),
        "app_version": assessment.app_version,
        "instructions_version": str(assessment.instructions_version or ""),
    }
    items: dict[str, dict] = {}
    comment = assessment.comment or None
    if assessment.rating:
        items["rating"] = {
            "kind": "feedback",
            "name": "rating",
            "value": assessment.rating == Assessment.Rating.POSITIVE,
            "rationale": comment,
            "metadata": {
                **meta,
                "rating": assessment.rating,
                "reasons": json.dumps(assessment.reasons or []),
                "other_reason": assessment.other_reason,
            },
        }
    elif comment:
        items["comment"] = {"kind": "feedback", "name": "comment", "value": comment, "metadata": meta}
    if assessment.corrected_response is not None:
        items["expected_response"] = {
            "kind": "expectation",
            "name": "expected_response",
            "value": assessment.corrected_response,
            "metadata": meta,
        }
    context = [
        {"doc_uri": item.get("doc_uri", ""), "content": chunks.get(item["position"], {}).get("content", "")}
        for item in assessment.retrieval_assessments or []
        if item.get("rating") == "relevant"
    ]
    context += [
        {"doc_uri": s.get("doc_uri", ""), "content": s.get("content", "")}
        for s in assessment.missing_sources or []
    ]
    if context:
        items["expected_retrieved_context"] = {
            "kind": "expectation",
            "name": "expected_retrieved_context",
            "value": context,
            "metadata": meta,
        }
    for item in assessment.retrieval_assessments or []:
        items[f"chunk:{item['position']}"] = {
            "kind": "feedback",
            "name": "chunk_relevance",
            "value": item["rating"] == "relevant",
            "rationale": item.get("comment") or None,
            "position": item["position"],
            "metadata": {**meta, "position": str(item["position"]), "doc_uri": item.get("doc_uri", "")},
        }
    return items


def _retriever_span_for(trace, position: int) -> str | None:
    """The RETRIEVER span that returned chunk `position` (positions run on across spans)."""
    start = 0
    for span in trace.data.spans:
        if span.span_type != "RETRIEVER":
            continue
        outputs = span.outputs if isinstance(span.outputs, list) else []
        if start <= position < start + len(outputs):
            return span.span_id
        start += len(outputs)
    spans = [s.span_id for s in trace.data.spans if s.span_type == "RETRIEVER"]
    return spans[0] if spans else None


def write_back(sync: MlflowSync) -> str:
    """Log the row's MLflow items; `sync` is held by this worker, and each write renews its lease."""
    assessment = sync.assessment
    held = MlflowSync.objects.filter(pk=sync.pk)
    trace_id = assessment.request.mlflow_trace_id
    if not trace_id:
        return MlflowSync.Status.SKIPPED
    mlflow = mlflow_setup.configure()
    from mlflow.entities import AssessmentSource, Expectation, Feedback

    try:
        trace = mlflow.MlflowClient().get_trace(trace_id)
    except mlflow.exceptions.MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            # Not in this tracking store (e.g. imported from elsewhere): nothing to write to.
            LEASE.renew(held, sync.attempts, last_error=str(exc)[:4000])
            return MlflowSync.Status.SKIPPED
        raise
    source = AssessmentSource(source_type="HUMAN", source_id=assessment.source_id)
    # The newest row written before this one: what MLflow shows now, to override.
    previous = (
        MlflowSync.objects.filter(
            assessment__in=_up_to(assessment).exclude(pk=assessment.pk), status=MlflowSync.Status.DONE
        )
        .select_related("assessment__request")
        .order_by("assessment")
        .first()
    )
    old_ids = dict(previous.mlflow_ids) if previous else {}
    old_items = items_for(previous.assessment) if previous else {}
    ids = dict(sync.mlflow_ids)  # written by an earlier attempt of this very row

    def save(key: str, mlflow_id: str) -> None:
        ids[key] = mlflow_id
        LEASE.renew(held, sync.attempts, mlflow_ids=ids)

    wanted = items_for(assessment)
    for key, item in wanted.items():
        if key in ids:
            continue
        if key in old_ids and old_items.get(key) == item:
            save(key, old_ids[key])  # unchanged: the MLflow item stays as it is
            continue
        span_id = _retriever_span_for(trace, item["position"]) if "position" in item else None
        if item["kind"] == "feedback":
            if key in old_ids:
                logged = mlflow.override_feedback(
                    trace_id=trace_id,
                    assessment_id=old_ids[key],
                    value=item["value"],
                    rationale=item.get("rationale"),
                    source=source,
                    metadata=item["metadata"],
                )
            else:
                logged = mlflow.log_feedback(
                    trace_id=trace_id,
                    name=item["name"],
                    value=item["value"],
                    rationale=item.get("rationale"),
                    source=source,
                    metadata=item["metadata"],
                    span_id=span_id,
                )
        else:
            expectation = Expectation(
                name=item["name"],
                value=item["value"],
                source=source,
                trace_id=trace_id,
                metadata=item["metadata"],
            )
            if key in old_ids:
                expectation.overrides = old_ids[key]
            logged = mlflow.log_assessment(trace_id, expectation)
        save(key, logged.assessment_id)
    # Items the reviewer took back: a valueless override keeps them in MLflow's history.
    for key, old_id in old_ids.items():
        if key in wanted or key in ids:
            continue
        old = old_items.get(key)
        if old is None:
            save(key, old_id)  # taken back earlier already: carry the valueless item forward
            continue
        kind = Feedback if old["kind"] == "feedback" else Expectation
        entity = kind(
            name=old["name"],
            value=None,
            source=source,
            trace_id=trace_id,
            metadata={"assessment_id": str(assessment.assessment_id), "removed": "true"},
        )
        entity.overrides = old_id
        logged = mlflow.log_assessment(trace_id, entity)
        save(key, logged.assessment_id)
    return MlflowSync.Status.DONE


def due_for_retry(now=None):
    """Open rows nobody holds that were not touched for a minute (fresh ones have a task queued)."""
    now = now or timezone.now()
    return MlflowSync.objects.filter(status__in=OPEN, updated_at__lt=now - timedelta(minutes=1)).filter(
        LEASE.free(now)
    )
