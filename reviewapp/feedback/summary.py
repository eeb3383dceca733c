"""Each request's effective feedback summed into one row (RequestFeedback) and its reasons.

`refresh` runs in the transaction that writes an assessment, so the row always matches the log;
`rebuild` recomputes an app's rows after its context span changed which passages the model saw: a
background job (REBUILD_KIND), queued with the change, so the settings request never waits on it.
Until it has run, rows summed before keep the old span.
Passages are merged across reviewers: a passage is rated when anyone rated it, and relevant when
more of its ratings say relevant than not relevant (a split counts as not relevant).
"""

from collections import Counter

from django.db import transaction
from django.utils import timezone

from reviewapp.catalog.models import App
from reviewapp.requestlog import passages as passage_rules
from reviewapp.requestlog.models import Request

from .models import Assessment, FeedbackReason, FeedbackReviewer, RequestFeedback

PRECISION_AT = (1, 3, 5)
REBUILD_BATCH = 500
REBUILD_KIND = "rebuild_feedback_summaries"
# What `summarize` reads of a request (the trace, often large, is not needed).
SUMMARY_SOURCE_FIELDS = ("request_id", "app_id", "app_version", "source", "created_at", "chunks")


def _verdict(up: int, down: int) -> str:
    if up and down:
        return RequestFeedback.Verdict.MIXED
    if up:
        return RequestFeedback.Verdict.POSITIVE
    if down:
        return RequestFeedback.Verdict.NEGATIVE
    return RequestFeedback.Verdict.UNRATED


def summarize(request: Request, effective: list[Assessment], context_span: str) -> tuple[dict, Counter]:
    """The fields of `request`'s summary row from its effective assessments, and the reasons of
    its thumbs down in force with how many reviewers gave each."""
    up = sum(a.rating == Assessment.Rating.POSITIVE for a in effective)
    down = sum(a.rating == Assessment.Rating.NEGATIVE for a in effective)
    reasons: Counter = Counter()
    for a in effective:
        if a.rating == Assessment.Rating.NEGATIVE:
            reasons.update({str(r)[:200] for r in a.reasons or []})
    rank_of = {
        p["position"]: rank for rank, p in enumerate(passage_rules.passages(request.chunks, context_span), 1)
    }
    votes: dict[int, list[int]] = {}
    for a in effective:
        for position, item in passage_rules.ratings(
            a.retrieval_assessments, request.chunks, context_span
        ).items():
            rank = rank_of.get(position)
            if rank is not None:
                tally = votes.setdefault(rank, [0, 0])
                tally[0 if item["rating"] == "relevant" else 1] += 1
    relevant = sorted(rank for rank, (yes, no) in votes.items() if yes > no)
    row = {
        "request_id": request.request_id,
        "app_id": request.app_id,
        "app_version": request.app_version,
        "source": request.source,
        "request_created_at": request.created_at,
        "reviewers": len(effective),
        "up": up,
        "down": down,
        "verdict": _verdict(up, down),
        # Blank is no correction (record_feedback stores None for it; older rows may hold "").
        "corrections": sum(bool(a.corrected_response) for a in effective),
        "missing_sources": sum(bool(a.missing_sources) for a in effective),
        "passages_rated": len(votes),
        "passages_relevant": len(relevant),
        "first_relevant_rank": relevant[0] if relevant else None,
        "updated_at": timezone.now(),
    }
    for k in PRECISION_AT:
        row[f"rated_at_{k}"] = sum(rank <= k for rank in votes)
        row[f"relevant_at_{k}"] = sum(rank <= k for rank in relevant)
    return row, reasons


def store(rows: list[tuple[dict, Counter]], *, summaries=RequestFeedback, reasons=FeedbackReason) -> None:
    """Write summaries (from `summarize`) over the old ones. The models are parameters so a data
    migration can pass its historical ones."""
    if not rows:
        return
    updated = [f.name for f in summaries._meta.concrete_fields if not f.primary_key]
    summaries.objects.bulk_create(
        [summaries(**row) for row, _ in rows],
        update_conflicts=True,
        unique_fields=["request"],
        update_fields=updated,
    )
    reasons.objects.filter(request_id__in=[row["request_id"] for row, _ in rows]).delete()
    reasons.objects.bulk_create(
        [
            reasons(
                request_id=row["request_id"],
                reason=reason,
                votes=n,
                app_id=row["app_id"],
                app_version=row["app_version"],
                request_created_at=row["request_created_at"],
            )
            for row, counts in rows
            for reason, n in counts.items()
        ]
    )


def refresh(request: Request, *, first_from=None) -> None:
    """Rewrite `request`'s summary from its effective assessments (call inside the write's transaction,
    holding the request's row lock, as record_feedback does). `first_from`: the reviewer whose first
    feedback on it this write is; everyone else was listed as a reviewer by their own first write."""
    effective = list(Assessment.objects.filter(request=request).latest_per_reviewer())
    # Read now, not from `request.app`: a context span changed (and its rebuild committed) while this
    # write waited for the request's lock must decide the passages, or the rebuild would be undone.
    context_span = App.objects.filter(pk=request.app_id).values_list("context_span", flat=True).get()
    store([summarize(request, effective, context_span)])
    # Feedback is never taken back, so a reviewer once listed stays listed.
    if first_from is not None:
        FeedbackReviewer.objects.bulk_create(
            [
                FeedbackReviewer(
                    request_id=request.request_id,
                    reviewer_id=first_from.pk,
                    app_id=request.app_id,
                    app_version=request.app_version,
                    request_created_at=request.created_at,
                )
            ],
            ignore_conflicts=True,
        )


def rebuild(app: App, on_batch=None) -> int:
    """Recompute the summaries of every request of `app` with feedback; how many were written.

    `on_batch(done)` is called after each batch (a job's progress report)."""
    done = 0
    last = None
    while True:
        with transaction.atomic():
            ids = (
                Assessment.objects.filter(app=app).order_by("request_id").values_list("request_id", flat=True)
            )
            if last is not None:
                ids = ids.filter(request_id__gt=last)
            batch = list(ids.distinct()[:REBUILD_BATCH])
            if not batch:
                return done
            last = batch[-1]
            # The lock record_feedback takes, in one order: feedback recorded meanwhile is either
            # read here or summed after this batch, never overwritten by an older sum.
            requests = {
                r.pk: r
                for r in Request.objects.select_for_update(no_key=True)
                .filter(pk__in=batch)
                .order_by("pk")
                .only(*SUMMARY_SOURCE_FIELDS)
            }
            # Read under the locks, for each batch: a span changed again while this rebuild runs
            # decides the batches summed after it (and the rebuild it queued sums the others again).
            context_span = App.objects.filter(pk=app.pk).values_list("context_span", flat=True).first()
            if context_span is None:
                return done  # the app is gone
            effective: dict = {}
            for a in Assessment.objects.filter(request_id__in=batch).latest_per_reviewer():
                effective.setdefault(a.request_id, []).append(a)
            store(
                [summarize(requests[i], effective.get(i, []), context_span) for i in batch if i in requests]
            )
            done += len(batch)
        if on_batch is not None:
            on_batch(done)


def rebuild_job(job) -> dict:
    """A rebuild job's work: the summaries of its app, with the span the app has when it runs."""
    if job.app is None:
        return {"summaries": 0}
    return {"summaries": rebuild(job.app, on_batch=job.report_progress)}


def start_rebuild(app: App, actor=None):
    """Queue a rebuild of `app`'s summaries; its task is sent once the caller's transaction commits.

    Every change queues one: each run reads the span then in force, so the last one to run sums
    with the latest span, however the runs of two changes overlap."""
    from reviewapp.jobs.services import enqueue

    from .tasks import rebuild_summaries

    return enqueue(kind=REBUILD_KIND, app=app, user=actor, params={}, task=rebuild_summaries)


def rebuild_on_context_span_change(sender, app: App, actor=None, **kwargs) -> None:
    start_rebuild(app, actor)
