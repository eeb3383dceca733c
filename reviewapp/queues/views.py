import json
import re
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from reviewapp.catalog.permissions import can, get_app_for
from reviewapp.comparisons import views as comparison_views
from reviewapp.feedback.models import Assessment
from reviewapp.lib.forms import render_page, show_service_errors, status_for
from reviewapp.monitoring.forms import served_versions
from reviewapp.requestlog.models import Request
from reviewapp.requestlog.trace_view import span_tree

from . import claims, forms, progress, sampling, services
from .forms import (
    AddItemsForm,
    FillForm,
    ItemFilterForm,
    QueueEditForm,
    QueueForm,
    RemoveItemsForm,
    RequeueForm,
)
from .models import Draft, QueueEvent, QueueItem, Reservation, ReviewQueue

_RECENT_REQUESTS = 100
_DETAIL_ITEMS = 50
_HISTORY = 20
_DRAFT_MAX_BYTES = 200_000


# --- the owner's screens ------------------------------------------------------------------


@login_required
def queue_list(request: HttpRequest, slug: str) -> HttpResponse:
    """Managers: every queue of the app with its progress. Reviewers: the queues open to them."""
    app = get_app_for(request.user, slug, "feedback")
    if can(app, "monitor"):
        rows = [(queue, progress.queue_progress(queue=queue)) for queue in app.queues.all()]
        mine = []
    else:
        rows = []
        mine = [
            progress.reviewer_progress(queue=queue, user=request.user)
            for queue in services.queues_for_reviewer(request.user, closed=True)
            if queue.app_id == app.pk
        ]
    context = {"app": app, "rows": rows, "mine": mine, "nav": "apps"}
    return render(request, "queues/queue_list.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def queue_create(request: HttpRequest, slug: str) -> HttpResponse:
    app = get_app_for(request.user, slug, "monitor")
    recent = list(Request.objects.for_app(app).order_by("-created_at", "-request_id")[:_RECENT_REQUESTS])
    current = app.current_instructions()
    if request.method == "POST":
        form = QueueForm(request.POST, app=app, recent_requests=recent)
        if form.is_valid():
            try:
                queue, result = services.create_queue(
                    app=app, created_by=request.user, request_ids=form.all_request_ids(), **form.settings()
                )
            except ValidationError as error:
                show_service_errors(form, error)
            else:
                messages.success(request, f"Queue “{queue.name}” created with {len(result.added)} items.")
                return redirect("queue-detail", app.slug, queue.pk)
    else:
        form = QueueForm(
            app=app,
            recent_requests=recent,
            initial={"instructions": current.markdown if current else ""},
        )
    context = {"app": app, "form": form, "nav": "apps"}
    return render(request, "queues/queue_create.html", context, status=status_for(form))


@login_required
@require_http_methods(["GET", "POST"])
def queue_edit(request: HttpRequest, slug: str, queue_id: int) -> HttpResponse:
    """Every setting of a queue, at any time; each change is in the queue's history."""
    app = get_app_for(request.user, slug, "monitor")
    queue = get_object_or_404(app.queues, pk=queue_id)
    if request.method == "POST":
        form = QueueEditForm(request.POST, app=app, queue=queue)
        if form.is_valid():
            try:
                changed = services.update_queue(queue=queue, actor=request.user, changes=form.settings())
            except ValidationError as error:
                show_service_errors(form, error)
            else:
                if changed:
                    messages.success(request, f"Queue “{queue.name}” changed: {', '.join(_words(changed))}.")
                else:
                    messages.info(request, "Nothing changed.")
                return redirect("queue-detail", app.slug, queue.pk)
    else:
        form = QueueEditForm(app=app, queue=queue, initial=forms.edit_initial(queue))
    context = {"app": app, "queue": queue, "form": form, "nav": "apps"}
    return render(request, "queues/queue_edit.html", context, status=status_for(form))


FIELD_WORDS = {
    "name": "name",
    "instructions": "instructions",
    "overlap": "reviewers per item",
    "assignment": "assignment",
    "blind": "blind",
    "due_at": "due",
    "closed_at": "closed",
    "gold_rate": "gold rate",
    "gold_accuracy_threshold": "gold accuracy threshold",
    "reviewers": "reviewers",
    "adjudicators": "adjudicators",
}


def _words(changes: dict) -> list[str]:
    return [FIELD_WORDS.get(name, name) for name in changes]


def _shown(value) -> str:
    if value is None or value == []:
        return "—"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _event_lines(event: QueueEvent) -> list[str]:
    """What one audit row says, in a few short lines."""
    changes = event.changes or {}
    if event.action in ("items_added", "items_removed"):
        verb = "added" if event.action == "items_added" else "removed"
        line = f"{changes.get('count', 0)} item(s) {verb}"
        if changes.get("reviews"):
            line += f" ({changes['reviews']} submitted review(s) kept in the assessment log)"
        return [line]
    if event.action == "requeued":
        return [
            f"{changes.get('count', 0)} label(s) made under instructions v{changes.get('version')} "
            f"re-queued for v{changes.get('current')}"
        ]
    if event.action == "created":
        return ["created"]
    lines = []
    for name, pair in changes.items():
        before, after = pair if isinstance(pair, list) and len(pair) == 2 else (None, pair)
        if name == "instructions":
            lines.append("instructions changed")
        elif name == "closed_at":
            lines.append("closed" if after else "reopened")
        else:
            lines.append(f"{FIELD_WORDS.get(name, name)}: {_shown(before)} → {_shown(after)}")
    return lines


def _detail_context(request: HttpRequest, app, queue: ReviewQueue, **forms_given) -> dict:
    known = set(queue.reviewers.values_list("email", flat=True)) | set(
        Reservation.objects.filter(item__queue=queue).values_list("reviewer__email", flat=True)
    )
    filters = ItemFilterForm(request.GET, reviewers=sorted(known))
    chosen = filters.cleaned_data if filters.is_valid() else {}
    items = progress.queue_items(
        queue=queue,
        status=chosen.get("status", ""),
        reviewer=chosen.get("reviewer", ""),
        disagreement=chosen.get("disagreement", False),
    ).prefetch_related("reservations__reviewer")
    page = Paginator(items, _DETAIL_ITEMS).get_page(chosen.get("page"))
    query = {k: v for k, v in chosen.items() if v and k != "page"}
    # Thumbs and passages: a pairwise queue's picks have their own results section.
    review_mode = queue.mode == ReviewQueue.Mode.REVIEW
    agreement = progress.queue_agreement(queue=queue) if review_mode else None
    current = app.current_instructions()
    return {
        "app": app,
        "queue": queue,
        "progress": progress.queue_progress(queue=queue),
        "agreement": agreement,
        "agreement_rows": [("Thumbs", agreement.rating), ("Passage relevance", agreement.chunks)]
        if agreement
        else [],
        "filters": filters,
        "page": page,
        "items": page.object_list,
        "filter_query": urlencode(query),
        "history": [
            (event, _event_lines(event)) for event in queue.events.select_related("actor")[:_HISTORY]
        ],
        "versions": services.labels_by_instructions(queue=queue),
        "current_instructions": current,
        "add_form": forms_given.get("add_form") or AddItemsForm(),
        "requeue_form": forms_given.get("requeue_form"),
        "remove_form": forms_given.get("remove_form"),
        "nav": "apps",
    }


@login_required
def queue_detail(request: HttpRequest, slug: str, queue_id: int) -> HttpResponse:
    app = get_app_for(request.user, slug, "monitor")
    queue = get_object_or_404(app.queues.prefetch_related("reviewers"), pk=queue_id)
    context = _detail_context(request, app, queue)
    return render(request, "queues/queue_detail.html", context, status=status_for(context["filters"]))


@login_required
@require_POST
def queue_add_items(request: HttpRequest, slug: str, queue_id: int) -> HttpResponse:
    app = get_app_for(request.user, slug, "monitor")
    queue = get_object_or_404(app.queues, pk=queue_id)
    form = AddItemsForm(request.POST)
    if form.is_valid():
        try:
            result = services.add_items(queue=queue, request_ids=form.ids(), actor=request.user)
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            text = f"Added {len(result.added)} items."
            if result.already_in_queue:
                text += f" {len(result.already_in_queue)} were already in the queue."
            messages.success(request, text)
            return redirect("queue-detail", app.slug, queue.pk)
    # Re-render with the pasted ids kept, so nothing typed is lost.
    context = _detail_context(request, app, queue, add_form=form)
    return render(request, "queues/queue_detail.html", context, status=400)


@login_required
@require_POST
def queue_remove_items(request: HttpRequest, slug: str, queue_id: int) -> HttpResponse:
    """Take items out of the queue; the reviewers' feedback on them stays with the requests."""
    app = get_app_for(request.user, slug, "monitor")
    queue = get_object_or_404(app.queues, pk=queue_id)
    form = RemoveItemsForm(request.POST)
    if form.is_valid():
        try:
            result = services.remove_items(
                queue=queue, request_ids=form.cleaned_data["request_ids"], actor=request.user
            )
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            text = f"Removed {len(result.removed)} item(s)."
            if result.reviews:
                text += f" Their {result.reviews} submitted review(s) stay in the assessment log."
            if result.not_in_queue:
                text += f" {len(result.not_in_queue)} were not in the queue."
            messages.success(request, text)
            return redirect("queue-detail", app.slug, queue.pk)
    context = _detail_context(request, app, queue, remove_form=form)
    return render(request, "queues/queue_detail.html", context, status=400)


@login_required
@require_POST
def queue_requeue(request: HttpRequest, slug: str, queue_id: int) -> HttpResponse:
    """Re-queue the items labelled under an earlier instructions version."""
    app = get_app_for(request.user, slug, "monitor")
    queue = get_object_or_404(app.queues, pk=queue_id)
    form = RequeueForm(request.POST)
    if form.is_valid():
        try:
            count = services.requeue_labelled_under(
                queue=queue, version=form.cleaned_data["version"], actor=request.user
            )
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            messages.success(
                request,
                f"{count} label(s) made under instructions v{form.cleaned_data['version']} re-queued: "
                "their items have fresh slots; the earlier feedback stays in the history.",
            )
            return redirect("queue-detail", app.slug, queue.pk)
    context = _detail_context(request, app, queue, requeue_form=form)
    return render(request, "queues/queue_detail.html", context, status=400)


# --- the reviewer's screens ---------------------------------------------------------------


@login_required
def my_queues(request: HttpRequest) -> HttpResponse:
    rows = [
        progress.reviewer_progress(queue=queue, user=request.user)
        for queue in services.queues_for_reviewer(request.user, closed=True)
    ]
    return render(request, "queues/my_queues.html", {"rows": rows, "nav": "queues"})


def _queue_for_reviewer(user, queue_id: int) -> ReviewQueue:
    queue = get_object_or_404(ReviewQueue.objects.select_related("app"), pk=queue_id)
    # 404 to those who cannot see the app, 403 to those who cannot give feedback on it.
    queue.app = get_app_for(user, queue.app.slug, "feedback")
    if not services.is_reviewer(queue=queue, user=user):
        raise PermissionDenied("You are not a reviewer of this queue")
    return queue


def _closed(request: HttpRequest, queue: ReviewQueue, status: int = 200) -> HttpResponse:
    """A closed queue hands out nothing: the reviewer is told so, and that their work is kept."""
    context = {"queue": queue, "app": queue.app, "nav": "queues"}
    return render(request, "queues/queue_closed.html", context, status=status)


def _after(queue: ReviewQueue, raw: str) -> QueueItem | None:
    # Not isdigit(): "²" is a digit that int() refuses.
    return queue.items.filter(pk=int(raw)).first() if re.fullmatch(r"[0-9]+", raw) else None


def _done_or_start(request: HttpRequest, queue: ReviewQueue, after: QueueItem | None) -> HttpResponse:
    mine = progress.reviewer_progress(queue=queue, user=request.user)
    context = {"queue": queue, "app": queue.app, "progress": mine, "after": after, "nav": "queues"}
    if mine.remaining:
        return render(request, "queues/review_start.html", context)
    return render(request, "queues/review_done.html", context)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def review_next(request: HttpRequest, queue_id: int) -> HttpResponse:
    """GET: the item the reviewer already holds, else a page to start (or "all done"); changes nothing.
    POST: reserve the next item (after `after`, when skipping ahead) and go to it."""
    queue = _queue_for_reviewer(request.user, queue_id)
    if queue.closed_at is not None:
        return _closed(request, queue, 409 if request.method == "POST" else 200)
    if request.method == "POST":
        reservation = claims.claim_next(
            queue=queue, reviewer=request.user, after=_after(queue, request.POST.get("after", ""))
        )
        if reservation is not None:
            return redirect("review-item", queue.pk, reservation.item_id)
        return redirect("review-next", queue.pk)
    after = _after(queue, request.GET.get("after", ""))
    held = claims.held_item(queue=queue, reviewer=request.user, after=after)
    if held is not None:
        return redirect("review-item", queue.pk, held.item_id)
    return _done_or_start(request, queue, after)


def _neighbours(queue: ReviewQueue, user, item: QueueItem) -> tuple[int | None, int | None]:
    """The items before and after `item` in this reviewer's own path through the queue."""
    path = list(
        Reservation.objects.filter(item__queue=queue, reviewer=user)
        .order_by("claimed_at", "id")
        .values_list("item_id", flat=True)
    )
    if item.pk not in path:
        return (path[-1] if path else None), None
    index = path.index(item.pk)
    before = path[index - 1] if index > 0 else None
    after = path[index + 1] if index + 1 < len(path) else None
    return before, after


def _others_feedback(item: QueueItem, user) -> list[Assessment]:
    return list(
        Assessment.objects.filter(request=item.request)
        .exclude(reviewer=user)
        .latest_per_reviewer()
        .select_related("reviewer")
        .order_by("reviewer__email")
    )


def _review_context(request: HttpRequest, queue: ReviewQueue, item: QueueItem, reservation) -> dict:
    user = request.user
    draft = Draft.objects.filter(item=item, reviewer=user).first()
    submitted = reservation is not None and reservation.done_at is not None
    hidden = queue.blind and not submitted
    before, after = _neighbours(queue, user, item)
    req = item.request
    return {
        "queue": queue,
        "app": queue.app,
        "item": item,
        "req": req,
        "reservation": reservation,
        "submitted": submitted,
        "instructions": queue.instructions or getattr(queue.app.current_instructions(), "markdown", ""),
        "conversation": [m for m in (req.messages or []) if isinstance(m, dict)],
        "spans": span_tree(req.trace) if req.trace else [],
        "draft": draft.data if draft else {},
        "blind": hidden,
        # A gold item's other feedback is its answer key's: never shown, as if nobody had done it yet.
        "others": [] if hidden or item.gold else _others_feedback(item, user),
        "previous_id": before,
        "next_id": after,
        "progress": progress.reviewer_progress(queue=queue, user=user),
        "nav": "queues",
    }


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def review_item(request: HttpRequest, queue_id: int, item_id: int) -> HttpResponse:
    """GET shows the item to a reviewer who holds it (or a button to take it); POST reserves it."""
    queue = _queue_for_reviewer(request.user, queue_id)
    if queue.closed_at is not None:
        return _closed(request, queue, 409 if request.method == "POST" else 200)
    item = get_object_or_404(queue.items.select_related("request"), pk=item_id)
    full = {"queue": queue, "app": queue.app, "item": item, "nav": "queues"}
    if request.method == "POST":
        if claims.claim_item(item=item, reviewer=request.user) is None:
            return render(request, "queues/review_full.html", full, status=409)
        return redirect("review-item", queue.pk, item.pk)
    reservation = Reservation.objects.held_by(request.user).filter(item=item).first()
    if reservation is not None:
        if queue.mode == ReviewQueue.Mode.PAIRWISE:
            return comparison_views.review_pair(request, queue, item, reservation)
        return render(request, "queues/review.html", _review_context(request, queue, item, reservation))
    if claims.may_claim(queue=queue, reviewer=request.user, item=item):
        # Not held: never taken, or its reservation expired (anyone may take that slot now). Taking
        # it, again, is a POST; a page shown changes nothing.
        lapsed = Reservation.objects.filter(item=item, reviewer=request.user).unfinished().exists()
        return render(request, "queues/review_start.html", {**full, "lapsed": lapsed})
    return render(request, "queues/review_full.html", full, status=409)


@login_required
@require_POST
def review_submit(request: HttpRequest, queue_id: int, item_id: int) -> HttpResponse:
    """Submit and next: the item is done for this reviewer once they have rated the answer."""
    queue = _queue_for_reviewer(request.user, queue_id)
    if queue.closed_at is not None:
        # What they typed is in their draft (saved as they type), so nothing is lost.
        return _closed(request, queue, 409)
    item = get_object_or_404(queue.items.select_related("request"), pk=item_id)
    try:
        typed = json.loads(request.POST.get("typed") or "{}")
    except ValueError:
        typed = None
    error = ""
    if not isinstance(typed, dict):
        error = "The typed fields did not arrive intact; your draft is kept, please submit again."
    else:
        try:
            claims.submit_review(item=item, reviewer=request.user, typed=typed)
        except ValidationError as exc:
            error = " ".join(exc.messages)
    if error:
        reservation = Reservation.objects.held_by(request.user).filter(item=item).first()
        context = _review_context(request, queue, item, reservation) | {"submit_error": error}
        return render(request, "queues/review.html", context, status=400)
    following = claims.claim_next(queue=queue, reviewer=request.user, after=item)
    if following is not None:
        return redirect("review-item", queue.pk, following.item_id)
    return redirect("review-next", queue.pk)


@login_required
@require_POST
def review_draft(request: HttpRequest, queue_id: int, item_id: int) -> HttpResponse:
    """Keep what the reviewer is typing, so a closed tab or an expired reservation loses nothing."""
    queue = _queue_for_reviewer(request.user, queue_id)
    item = get_object_or_404(queue.items, pk=item_id)
    raw = request.POST.get("data", "")
    if len(raw.encode()) > _DRAFT_MAX_BYTES:
        return JsonResponse({"data": [f"a draft is at most {_DRAFT_MAX_BYTES} bytes"]}, status=400)
    try:
        data = json.loads(raw)
    except ValueError:
        return JsonResponse({"data": ["must be a JSON object of field names and values"]}, status=400)
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str | list) for k, v in data.items()
    ):
        return JsonResponse({"data": ["must be a JSON object of field names and text values"]}, status=400)
    draft = claims.save_draft(item=item, reviewer=request.user, data=data)
    return JsonResponse({"saved_at": draft.updated_at.isoformat()})


# --- filling a queue by rules


# The request log's filters that are also rules: a link from the log starts from them.
_FROM_LOG = {"since": "since", "until": "until", "reason": "reason", "judge": "judge", "queue": "queue"}


def _fill_initial(query) -> dict:
    initial = {rule: query[name] for name, rule in _FROM_LOG.items() if query.get(name)}
    if query.get("app_version"):
        initial["app_versions"] = [query["app_version"]]
    if query.get("rating") == "negative" or query.get("verdict") in ("negative", "mixed"):
        initial["thumbs_down"] = True
    if query.get("feedback") == "no":
        initial["unreviewed"] = True
    if query.get("judge_said") == "fail" and query.get("judge"):
        initial["judge_disagrees"] = True
    return initial


@login_required
@require_http_methods(["GET", "POST"])
def queue_fill(request: HttpRequest, slug: str) -> HttpResponse:
    """Fill a new or open queue by rules. "Preview" counts and shows a few of the requests (the
    form section alone for htmx); "Fill" adds the same ones (the preview's seed) and goes to the queue."""
    app = get_app_for(request.user, slug, "monitor")
    queues = list(app.queues.filter(closed_at__isnull=True, mode=ReviewQueue.Mode.REVIEW).order_by("name"))
    options = {
        "app": app,
        "queues": queues,
        "versions": served_versions(app),
        "judges": list(app.judges.live().values_list("name", flat=True)),
    }
    preview = None
    if request.method == "POST":
        form = FillForm(request.POST, **options)
        if form.is_valid():
            queue = form.chosen_queue()
            try:
                if request.POST.get("action") == "preview":
                    selection = sampling.select(app, form.rules(), queue=queue)
                    preview = {"selection": selection, "rows": sampling.sample_rows(selection)}
                    # Fill then adds what this preview showed.
                    form.data = form.data.copy()
                    form.data["seed"] = str(selection.seed)
                else:
                    return _fill(request, app, form, queue)
            except ValidationError as error:
                show_service_errors(form, error, {"mode": "queue"})
    else:
        form = FillForm(initial=_fill_initial(request.GET), **options)
    context = {"app": app, "form": form, "preview": preview, "nav": "apps"}
    return render_page(request, "queues/queue_fill.html", context, part="fill-form", forms=[form])


def _fill(request: HttpRequest, app, form: FillForm, queue: ReviewQueue | None) -> HttpResponse:
    data = form.cleaned_data
    if queue is None:
        queue, filled = sampling.create_filled_queue(
            app=app,
            created_by=request.user,
            rules=form.rules(),
            name=data["name"],
            overlap=data["overlap"] if data["overlap"] is not None else 1,
            blind=data["blind"],
        )
    else:
        filled = sampling.fill_queue(queue=queue, rules=form.rules(), actor=request.user)
    text = f"Added {filled.added} request{'s' if filled.added != 1 else ''} to “{queue.name}”."
    skipped = filled.selection.skipped_queued
    if skipped:
        text += f" {skipped} waiting in another open queue {'was' if skipped == 1 else 'were'} left out."
    messages.success(request, text)
    if request.htmx:
        return HttpResponseClientRedirect(reverse("queue-detail", args=[app.slug, queue.pk]))
    return redirect("queue-detail", app.slug, queue.pk)
