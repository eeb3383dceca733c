"""Each request's effective feedback summed into one row (RequestFeedback) and its reasons.

`catch_up` sums the assessments written since it last ran (record_feedback marks them), and every
reader of the summaries calls it first, so what they read always matches the log;
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
# What `summarize` and the reviewers' listing read of an assessment.
SUMMED_FIELDS = (
    "request_id",
    "reviewer_id",
    "rating",
    "reasons",
    "corrected_response",
    "missing_sources",
    "retrieval_assessments",
)
CATCH_UP_BATCH = 500


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


def sum_requests(request_ids) -> None:
    """Rewrite the summaries of `request_ids` (primary keys) from their effective assessments, and
    list their reviewers. Call inside a transaction: it takes the requests' row locks, in one order,
    before it reads, so of two sums of one request the later one reads what the earlier one did."""
    ids = sorted(set(request_ids))
    requests = {
        r.pk: r
        for r in Request.objects.select_for_update(no_key=True)
        .filter(pk__in=ids)
        .order_by("pk")
        .only(*SUMMARY_SOURCE_FIELDS)
    }
    if not requests:
        return
    # Read under the locks: a context span changed (and its rebuild committed) meanwhile must decide
    # the passages, or the rebuild would be undone.
    spans = dict(
        App.objects.filter(pk__in={r.app_id for r in requests.values()}).values_list("pk", "context_span")
    )
    effective: dict = {}
    for a in (
        Assessment.objects.filter(request_id__in=ids).latest_per_reviewer().only(*SUMMED_FIELDS).order_by()
    ):
        effective.setdefault(a.request_id, []).append(a)
    store([summarize(r, effective.get(pk, []), spans[r.app_id]) for pk, r in requests.items()])
    # Feedback is never taken back, so a reviewer once listed stays listed.
    FeedbackReviewer.objects.bulk_create(
        [
            FeedbackReviewer(
                request_id=a.request_id,
                reviewer_id=a.reviewer_id,
                app_id=requests[a.request_id].app_id,
                app_version=requests[a.request_id].app_version,
                request_created_at=requests[a.request_id].created_at,
            )
            for rows in effective.values()
            for a in rows
        ],
        ignore_conflicts=True,
    )


def refresh(request: Request) -> None:
    """Rewrite `request`'s summary now (rows written other than by record_feedback, e.g. in tests)."""
    with transaction.atomic():
        sum_requests([request.pk])


def catch_up() -> int:
    """Sum the assessments written since the last catch-up into their requests' summaries; how many.

    record_feedback only inserts its row (marked `awaits_summary`), so that a click never waits on
    the sum; whatever reads the summaries calls this first, and a periodic task keeps the backlog
    short. Rows written while it runs wait for the next one: each is cleared only once summed.
    """
    done = 0
    while True:
        pending = list(
            Assessment.objects.filter(awaits_summary=True)
            .order_by("pk")
            .values_list("pk", "request_id")[:CATCH_UP_BATCH]
        )
        if not pending:
            return done
        with transaction.atomic():
            sum_requests(request_id for _, request_id in pending)
            Assessment.objects.filter(pk__in=[pk for pk, _ in pending]).update(awaits_summary=False)
        done += len(pending)


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
            # Under the requests' locks, for each batch: feedback recorded meanwhile is either read
            # here or summed after this batch, and a span changed again while this rebuild runs
            # decides the batches summed after it (and the rebuild it queued sums the others again).
            sum_requests(batch)
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
