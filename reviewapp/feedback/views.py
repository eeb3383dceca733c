import re

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from reviewapp.catalog.permissions import can, get_app_for

from . import drafts
from .access import visible_request
from .panel import NeedsChunkRating, changes_from_post, drafts_saved, panel_group, panel_state
from .services import record_feedback


def _queue_from_post(request, app):
    """The review queue the panel was used in: one of this app's, open to this reviewer."""
    queue_id = request.POST.get("queue", "")
    if not queue_id:
        return None
    from reviewapp.queues.models import ReviewQueue

    queues = ReviewQueue.objects.filter(app=app)
    if not can(app, "monitor"):
        queues = queues.open_to(request.user)
    # Not isdigit(): "²" is a digit that int() refuses.
    queue = queues.filter(pk=int(queue_id)).first() if re.fullmatch(r"[0-9]+", queue_id) else None
    if queue is None:
        raise ValidationError({"queue": "No such review queue open to you."})
    return queue


@login_required
@require_http_methods(["GET", "POST"])
def feedback_panel(request, slug: str, request_id) -> HttpResponse:
    """GET: the request with the panel (a page, or the panel alone for htmx). POST: save one control.

    A POST that saves nothing answers 400 with the panel, the reason beside the control.
    """
    app = get_app_for(request.user, slug, "feedback")
    req = visible_request(request.user, app, request_id)
    if req is None:
        raise Http404("No such request")
    if request.method == "GET":
        context = {"req": req, "fb": panel_state(request=req, reviewer=request.user)}
        if request.htmx:
            return render(request, "feedback/panel.html", context)
        context.update(app=app, nav="apps")
        return render(request, "feedback/request_feedback.html", context)

    state = panel_state(request=req, reviewer=request.user)
    field = request.POST.get("field", "")
    context = {"req": req, "saved_position": _int(request.POST.get("position"))}
    status = 200
    try:
        queue = _queue_from_post(request, app)
        context["queue"] = queue
        changes = changes_from_post(request.POST, state)
        recorded = record_feedback(request=req, reviewer=request.user, changes=changes, queue=queue)
        drafts.clear_drafts(request=req, reviewer=request.user, fields=drafts_saved(field, request.POST))
        state = panel_state(request=req, reviewer=request.user, assessment=recorded.assessment)
        context["saved"] = panel_group(field)
    except NeedsChunkRating:
        # Not saved: the comment stays in the page and goes with the rating once it is given.
        status = 400
        context["note"] = "Mark the passage relevant or not relevant to save this comment."
    except ValidationError as exc:
        status = 400
        # The panel is no Django form: each message goes beside the control of its field.
        context["errors"] = {name: " ".join(messages) for name, messages in exc.message_dict.items()}
        # Give back what was typed in the add-a-source inputs, so nothing is lost.
        context["draft"] = {
            "missing_doc_uri": request.POST.get("missing_doc_uri", ""),
            "missing_content": request.POST.get("missing_content", ""),
        }
    context["fb"] = state
    return render(request, "feedback/panel.html", context, status=status)


@login_required
@require_http_methods(["POST"])
def feedback_draft(request, slug: str, request_id) -> HttpResponse:
    """Keep what is being typed in one text field of the panel (`field`, `text`): no feedback yet."""
    app = get_app_for(request.user, slug, "feedback")
    req = visible_request(request.user, app, request_id)
    if req is None:
        raise Http404("No such request")
    try:
        draft = drafts.save_draft(
            request=req,
            reviewer=request.user,
            field=request.POST.get("field", ""),
            text=request.POST.get("text", ""),
        )
    except ValidationError as exc:
        return JsonResponse(exc.message_dict, status=400)
    return JsonResponse({"field": draft.field, "saved_at": draft.updated_at.isoformat()})


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
