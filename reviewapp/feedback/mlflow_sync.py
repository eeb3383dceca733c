"""Write-back of assessments to their MLflow traces as MLflow 3 assessments.

Each assessment row is the reviewer's whole feedback, so it maps to a set of MLflow items
(rating, comment, expected_response, expected_retrieved_context, one chunk_relevance per rated
passage, logged on the span that returned it). A later row overrides only the items that changed
(`override_feedback`, or an expectation with `overrides`) and carries the others' ids forward, so
MLflow keeps the history without a new entry per save. Rows of one (request, reviewer) are written
oldest first; rows saved in quick succession that nobody started writing are superseded by the
newest (marked skipped), which holds all they said. Ids are saved after each item, so a retry never
logs an item twice.

The worker holds a row under LEASE, and its writes are fenced by its claim (`attempts`): one
that was taken over gets LeaseLost and leaves the row to the new holder.
"""

import hashlib
import json
import logging
from datetime import timedelta

from django.utils import timezone

from reviewapp.chains import mlflow_setup, tracing
from reviewapp.jobs.leases import Lease, LeaseLost
from reviewapp.requestlog import passages as passage_rules

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
    """Write back `sync_id` with every other open row of the same (request, reviewer), in order.

    Each row is the reviewer's whole feedback, so only the newest open row needs writing: older
    pending ones nothing was written for yet (quick saves) are marked skipped, superseded. One an
    earlier attempt failed on or started writing is written first, so MLflow's history keeps it
    and none of its items is left behind un-overridden.
    Returns the final status of `sync_id`; raises on a tracking-store error (the row is then
    `failed` and retried later), Busy when another worker is on the same chain and LeaseLost
    when another worker took a row over from this one.
    """
    target = MlflowSync.objects.select_related("assessment").get(pk=sync_id)
    if target.status not in OPEN:
        return target.status
    assessment = target.assessment
    # Oldest first: `assessment` orders by the assessments' own ordering (newest first), reversed.
    chain = MlflowSync.objects.filter(
        assessment__request_id=assessment.request_id,
        assessment__reviewer_id=assessment.reviewer_id,
        status__in=OPEN,
    ).order_by("-assessment")
    while (step := chain.first()) is not None:
        if not claim(step.pk):
            raise LEASE.busy(MlflowSync.objects.get(pk=step.pk), f"MLflow sync {step.pk}")
        untried = step.status == MlflowSync.Status.PENDING
        step = MlflowSync.objects.get(pk=step.pk)  # as claimed
        newest_pk, newest_id = chain.order_by("assessment").values_list("pk", "assessment__assessment_id")[0]
        if step.pk != newest_pk and untried and not step.mlflow_ids:
            _supersede(step, newest_id)
        else:
            _run(step.pk)
    return MlflowSync.objects.values_list("status", flat=True).get(pk=sync_id)


def _supersede(sync: MlflowSync, by) -> None:
    """Release a claimed row unwritten: a newer row of the same reviewer holds all it said."""
    LEASE.release(
        MlflowSync.objects.filter(pk=sync.pk),
        sync.attempts,
        status=MlflowSync.Status.SKIPPED,
        last_error=f"Superseded by assessment {by} before it was written to MLflow.",
        updated_at=timezone.now(),
    )


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
    passages = {p["position"]: p for p in request.passages()}
    rated = passage_rules.ratings(assessment.retrieval_assessments, request.chunks, request.app.context_span)
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
        {"doc_uri": passages[p]["doc_uri"], "content": passages[p]["content"]}
        for p in sorted(rated)
        if rated[p]["rating"] == "relevant"
    ]
    known = {c["doc_uri"] for c in context}
    context += [
        {"doc_uri": s.get("doc_uri", ""), "content": s.get("content", "")}
        for s in assessment.missing_sources or []
        if not s.get("doc_uri") or s.get("doc_uri") not in known
    ]
    if context:
        items["expected_retrieved_context"] = {
            "kind": "expectation",
            "name": "expected_retrieved_context",
            "value": context,
            "metadata": meta,
        }
    for position in sorted(rated):
        item, passage = rated[position], passages[position]
        items[f"chunk:{position}"] = {
            "kind": "feedback",
            "name": "chunk_relevance",
            "value": item["rating"] == "relevant",
            "rationale": item.get("comment") or None,
            "position": position,
            "span": {"span_id": passage["span_id"], "names": passage["spans"]},
            "metadata": {**meta, "position": str(position), "doc_uri": passage["doc_uri"]},
        }
    return items


# What differs from row to row though the reviewer's word is the same.
ROW_METADATA = ("assessment_id", "app_version", "instructions_version")


def _said(item: dict | None) -> dict | None:
    """An item without the metadata of the row it came from: equal when the reviewer said the same."""
    if item is None:
        return None
    return {**item, "metadata": {k: v for k, v in item["metadata"].items() if k not in ROW_METADATA}}


def _digest(item: dict | None) -> str | None:
    """What an item says (without its row's metadata), short enough to keep with its MLflow id."""
    if item is None:
        return None
    return hashlib.sha256(json.dumps(_said(item), sort_keys=True, default=str).encode()).hexdigest()


def _entry(saved) -> dict:
    """A `mlflow_ids` value: {"id", "said": digest} for a live item, {"id", "removed": True} for a
    valueless override. Rows written before kept the bare id."""
    return {"id": saved} if isinstance(saved, str) else saved


def _name(key: str) -> str:
    """The name of the MLflow item `items_for` keys so."""
    return "chunk_relevance" if key.startswith("chunk:") else key


def span_for(trace, span_id: str = "", names: list[str] | tuple = ()) -> str | None:
    """The id of the retriever or reranker span of `trace` that returned a passage: the stored
    span id when the trace has it, else the first such span of one of its names (a trace made
    again from the log), else the first retriever span; None when there is none."""
    candidates = [s for s in trace.data.spans if s.span_type in tracing.CHUNK_SPAN_TYPES]
    if span_id and any(s.span_id == span_id for s in candidates):
        return span_id
    for name in names:
        found = next((s.span_id for s in candidates if s.name == name), None)
        if found:
            return found
    retrievers = [s.span_id for s in candidates if s.span_type == "RETRIEVER"]
    return retrievers[0] if retrievers else None


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
    old = {key: _entry(value) for key, value in (previous.mlflow_ids if previous else {}).items()}
    ids = dict(sync.mlflow_ids)  # written by an earlier attempt of this very row
    legacy_items = None  # what a row saved before entries kept a digest said, recomputed

    def said_before(key: str) -> str | None:
        nonlocal legacy_items
        if "said" in old[key]:
            return old[key]["said"]
        if legacy_items is None:
            legacy_items = items_for(previous.assessment)
        return _digest(legacy_items.get(key))

    def save(key: str, mlflow_id: str, said: str | None) -> None:
        ids[key] = {"id": mlflow_id, "said": said} if said else {"id": mlflow_id, "removed": True}
        LEASE.renew(held, sync.attempts, mlflow_ids=ids)

    wanted = items_for(assessment)
    for key, item in wanted.items():
        if key in ids:
            continue
        said = _digest(item)
        if key in old and not old[key].get("removed") and said_before(key) == said:
            save(key, old[key]["id"], said)  # unchanged: the MLflow item stays as it is
            continue
        span_id = span_for(trace, item["span"]["span_id"], item["span"]["names"]) if "span" in item else None
        overrides = old[key]["id"] if key in old else None
        if item["kind"] == "feedback":
            # Not override_feedback: it takes the span of the item overridden, and a valueless
            # item (a rating taken back, now given again) has none.
            entity = Feedback(
                name=item["name"],
                value=item["value"],
                rationale=item.get("rationale"),
                source=source,
                trace_id=trace_id,
                metadata=item["metadata"],
                span_id=span_id,
                overrides=overrides,
            )
        else:
            entity = Expectation(
                name=item["name"],
                value=item["value"],
                source=source,
                trace_id=trace_id,
                metadata=item["metadata"],
            )
            entity.overrides = overrides
        logged = mlflow.log_assessment(trace_id, entity)
        save(key, logged.assessment_id, said)
    # Items the reviewer took back: a valueless override keeps them in MLflow's history. Which
    # ones were taken back is recorded, never recomputed: the app's context span may have moved
    # a passage since, and an item left live beside its replacement would count twice.
    for key, entry in old.items():
        if key in wanted or key in ids:
            continue
        if entry.get("removed"):
            save(key, entry["id"], None)  # taken back earlier already: carry the valueless item forward
            continue
        # A valueless feedback for expectations too: MLflow's Expectation needs a value, and an
        # override of any kind marks the item it overrides invalid.
        entity = Feedback(
            name=_name(key),
            value=None,
            source=source,
            trace_id=trace_id,
            metadata={"assessment_id": str(assessment.assessment_id), "removed": "true"},
        )
        entity.overrides = entry["id"]
        logged = mlflow.log_assessment(trace_id, entity)
        save(key, logged.assessment_id, None)
    return MlflowSync.Status.DONE


def due_for_retry(now=None):
    """Open rows nobody holds that were not touched for a minute (fresh ones have a task queued)."""
    now = now or timezone.now()
    return MlflowSync.objects.filter(status__in=OPEN, updated_at__lt=now - timedelta(minutes=1)).filter(
        LEASE.free(now)
    )


# --- final expectations (an adjudicator's label superseding the reviewers') ---------------------

FINAL_EXPECTATIONS = ("expected_response", "expected_retrieved_context")


def write_final_expectations(
    *, trace_id: str, source_id: str, values: dict, metadata: dict, written: dict, save
) -> str:
    """Log `values` ({name in FINAL_EXPECTATIONS: value, or None for none}) on the trace as the
    final expectations, by `source_id` (HUMAN), superseding the reviewers' ones.

    Each final item overrides the one written before it (`written`, {name: {"id", "said"}}), or
    the first time one of the reviewers' valid items of its name; any other valid item of that name
    gets a valueless override, so the final one is the only valid expectation of its name and
    `mlflow.genai.evaluate` reads it. Overridden items stay in MLflow's history. A name whose value
    is None leaves no valid item. `save(name, entry)` is called after each item logged, so a retry
    logs nothing twice. Returns the status (done, or skipped when the store lacks the trace).
    """
    mlflow = mlflow_setup.configure()
    from mlflow.entities import AssessmentSource, Expectation, Feedback

    try:
        trace = mlflow.MlflowClient().get_trace(trace_id)
    except mlflow.exceptions.MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return MlflowSync.Status.SKIPPED
        raise
    source = AssessmentSource(source_type="HUMAN", source_id=source_id)
    ours = {entry["id"] for entry in written.values()}

    def void(name: str, overrides: str, why: dict) -> str:
        # MLflow's Expectation needs a value; an override of any kind marks the overridden invalid.
        entity = Feedback(
            name=name, value=None, source=source, trace_id=trace_id, metadata={**metadata, **why}
        )
        entity.overrides = overrides
        return mlflow.log_assessment(trace_id, entity).assessment_id

    for name in FINAL_EXPECTATIONS:
        value = values.get(name)
        others = [
            a.assessment_id
            for a in trace.info.assessments or []
            # Expectations only: the valueless overrides (ours, the reviewers' take-backs) are feedback.
            if isinstance(a, Expectation)
            and a.name == name
            and a.valid in (True, None)
            and a.assessment_id not in ours
        ]
        before = written.get(name)
        said = (
            None if value is None else hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()
        )
        final_id = before["id"] if before and before.get("said") == said else None
        if final_id is None and said is not None:
            overrides = before["id"] if before else (others.pop(0) if others else None)
            entity = Expectation(name=name, value=value, source=source, trace_id=trace_id, metadata=metadata)
            entity.overrides = overrides
            final_id = mlflow.log_assessment(trace_id, entity).assessment_id
            save(name, {"id": final_id, "said": said})
        elif said is None and before and before.get("said"):
            save(name, {"id": void(name, before["id"], {"removed": "true"}), "said": None})
        for other in others:
            void(name, other, {"superseded_by": final_id or "", "final": "true"})
    return MlflowSync.Status.DONE
