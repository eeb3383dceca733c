from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from reviewapp.catalog.permissions import get_app_for
from reviewapp.lib.forms import show_service_errors, status_for
from reviewapp.queues import claims, progress
from reviewapp.queues import services as queues
from reviewapp.queues.models import QueueItem, Reservation, ReviewQueue
from reviewapp.requestlog.models import Request

from . import mlflow_export, results, services
from .forms import PairwiseQueueForm, PreferenceForm
from .models import ComparisonPair, Preference

# --- the reviewer's screen ------------------------------------------------------------------


def _pair_of(item: QueueItem) -> ComparisonPair:
    pair = ComparisonPair.objects.filter(item=item, status=ComparisonPair.Status.READY).first()
    if pair is None:
        raise Http404("This item is not a pair to compare")
    return pair


def _context(request: HttpRequest, queue: ReviewQueue, item: QueueItem, reservation, form) -> dict:
    """The pair as this reviewer sees it. Blind: nothing here names a version, a request id, or
    which response is which (the order is this reviewer's own, drawn at random)."""
    pair = _pair_of(item)
    swapped = services.order_for(pair=pair, reviewer=request.user)
    first, second = services.shown(pair, swapped)
    return {
        "queue": queue,
        "app": queue.app,
        "item": item,
        "form": form,
        "submitted": reservation is not None and reservation.done_at is not None,
        "instructions": queue.instructions or getattr(queue.app.current_instructions(), "markdown", ""),
        "conversation": [m for m in (pair.request_a.messages or []) if isinstance(m, dict)],
        "responses": [("A", first.response), ("B", second.response)],
        "progress": progress.reviewer_progress(queue=queue, user=request.user),
        "nav": "queues",
    }


def _initial(item: QueueItem, user) -> dict:
    """What the reviewer chose last time, in the order they see the pair."""
    latest = Preference.objects.filter(pair__item=item, reviewer=user).order_by("-id").first()
    if latest is None:
        return {}
    return {
        "choice": services.shown_choice(latest),
        "reasons": latest.reasons,
        "other_reason": latest.other_reason,
        "comment": latest.comment,
    }


def review_pair(request: HttpRequest, queue: ReviewQueue, item: QueueItem, reservation) -> HttpResponse:
    """The review page of a pairwise queue's item (queues.views.review_item hands it over)."""
    form = PreferenceForm(initial=_initial(item, request.user))
    return render(request, "comparisons/review_pair.html", _context(request, queue, item, reservation, form))


def _queue_for_reviewer(user, queue_id: int) -> ReviewQueue:
    queue = get_object_or_404(
        ReviewQueue.objects.select_related("app"), pk=queue_id, mode=ReviewQueue.Mode.PAIRWISE
    )
    # 404 to those who cannot see the app, 403 to those who cannot give feedback on it.
    queue.app = get_app_for(user, queue.app.slug, "feedback")
    if not queues.may_review(queue=queue, user=user):
        raise PermissionDenied("You are not a reviewer of this queue")
    return queue


@login_required
@require_POST
def pair_submit(request: HttpRequest, queue_id: int, item_id: int) -> HttpResponse:
    """Record the reviewer's pick and go to the next pair."""
    queue = _queue_for_reviewer(request.user, queue_id)
    item = get_object_or_404(queue.items, pk=item_id)
    form = PreferenceForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.record_preference(
                item=item,
                reviewer=request.user,
                choice=data["choice"],
                reasons=data["reasons"],
                other_reason=data["other_reason"],
                comment=data["comment"],
            )
        except ValidationError as error:
            show_service_errors(form, error)
    if form.errors:
        reservation = Reservation.objects.held_by(request.user).filter(item=item).first()
        context = _context(request, queue, item, reservation, form)
        return render(request, "comparisons/review_pair.html", context, status=400)
    following = claims.claim_next(queue=queue, reviewer=request.user, after=item)
    if following is not None:
        return redirect("review-item", queue.pk, following.item_id)
    return redirect("review-next", queue.pk)


# --- the owner's screens ------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def pairwise_create(request: HttpRequest, slug: str) -> HttpResponse:
    app = get_app_for(request.user, slug, "monitor")
    versions = services.versions_of(app)
    form = PairwiseQueueForm(request.POST or None, request.FILES or None, app=app, versions=versions)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        common = {
            "app": app,
            "name": data["name"],
            "created_by": request.user,
            "instructions": data["instructions"],
            "overlap": data["overlap"],
            "assignment": data["assignment"],
            "reviewers": list(data["reviewers"]),
        }
        try:
            if data["pairs_file"]:
                pairs = services.parse_pairs_jsonl(data["pairs_file"].read())
                queue, comparison = services.create_pairwise_queue(**common, pairs=pairs)
            else:
                ids = form.request_ids_given()
                if data["latest"] and data["version_a"]:
                    latest = Request.objects.filter(
                        app=app, app_version=data["version_a"], status=Request.Status.OK
                    ).exclude(source=Request.Source.COMPARISON)
                    ids += [
                        str(i)
                        for i in latest.order_by("-created_at").values_list("pk", flat=True)[: data["latest"]]
                    ]
                queue, comparison = services.create_pairwise_queue(
                    **common, version_a=data["version_a"], version_b=data["version_b"], request_ids=ids
                )
        except ValidationError as error:
            show_service_errors(form, error, {"pairs": "pairs_file"})
        else:
            count = comparison.pairs.count()
            how = "being replayed on version B" if comparison.job_id else "ready"
            messages.success(request, f"Pairwise queue “{queue.name}” created with {count} pairs, {how}.")
            return redirect("queue-detail", app.slug, queue.pk)
    context = {"app": app, "form": form, "versions": versions, "nav": "apps"}
    return render(request, "comparisons/pairwise_create.html", context, status=status_for(form))


def _pairwise_queue(request: HttpRequest, slug: str, queue_id: int) -> ReviewQueue:
    app = get_app_for(request.user, slug, "monitor")
    return get_object_or_404(
        app.queues.select_related("comparison", "app"), pk=queue_id, mode=ReviewQueue.Mode.PAIRWISE
    )


@login_required
def preferences_download(request: HttpRequest, slug: str, queue_id: int) -> HttpResponse:
    queue = _pairwise_queue(request, slug, queue_id)
    response = StreamingHttpResponse(
        results.preference_lines(queue.comparison), content_type="application/jsonl; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="preferences-{queue.pk}.jsonl"'
    return response


@login_required
@require_POST
def preferences_mlflow(request: HttpRequest, slug: str, queue_id: int) -> HttpResponse:
    queue = _pairwise_queue(request, slug, queue_id)
    job = mlflow_export.start(queue=queue, user=request.user)
    messages.success(request, f"Logging the preference pairs to MLflow (job {job.pk}).")
    return redirect("queue-detail", queue.app.slug, queue.pk)
