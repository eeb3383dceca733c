"""The chat screen: a conversation with the app's chain, streamed into the page.

The form posts normally (the whole turn, then a redirect) and chat.js upgrades it: it posts to
`chat_stream`, shows the deltas as they come, then swaps in the finished turn from `chat_turn`.
"""

import math

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from rest_framework.exceptions import Throttled

from reviewapp.accounts.throttling import page_refusal
from reviewapp.catalog.models import App
from reviewapp.catalog.permissions import can, get_app_for
from reviewapp.lib.forms import show_service_errors
from reviewapp.requestlog.models import Request
from reviewapp.requestlog.services import run_turn

from . import services
from .api import event_stream
from .forms import ChatForm


def _checked_turn(request: HttpRequest, app: App) -> tuple[ChatForm, dict | None, Throttled | None]:
    """The posted form and the turn it asks for (None when the form has errors); and the refusal
    when it is over the budget the invocations API has too (the web chat runs the same chains)."""
    form = ChatForm(request.POST)
    if not form.is_valid():
        return form, None, None
    conversation_id = form.cleaned_data["conversation_id"]
    turn = {
        "app": app,
        "user": request.user,
        "messages": services.next_turn(app, request.user, conversation_id, form.cleaned_data["message"]),
        "conversation_id": conversation_id,
    }
    try:
        services.check_turn(**turn)
    except ValidationError as error:
        show_service_errors(form, error, {"messages": "message"})
        return form, None, None
    if refusal := page_refusal(request, "invocations"):
        form.add_error(None, str(refusal.detail))
        return form, None, refusal
    return form, {**turn, "source": Request.Source.REVIEW_APP}, None


def _refused(response: HttpResponse, refusal: Throttled | None) -> HttpResponse:
    """A form error's answer: 400, or 429 with Retry-After when over the budget."""
    if refusal is not None:
        response.status_code = 429
        response["Retry-After"] = str(math.ceil(refusal.wait or 1))
    return response


def _page_context(request: HttpRequest, app: App, conversation_id: str, form: ChatForm | None = None):
    turns = services.summarised(services.conversation_turns(app, request.user, conversation_id))
    in_flight = services.in_flight(app, request.user, conversation_id)
    if form is None:
        initial = {"conversation_id": conversation_id}
        if turns and turns[-1].status in (Request.Status.ERROR, Request.Status.INCOMPLETE) and not in_flight:
            # The question that failed or was answered part-way waits in the box, ready to send again.
            initial["message"] = turns[-1].request_text
        elif not turns and request.GET.get("q") in (app.example_questions or []):
            # An example question picked without JavaScript: in the box, to send or change.
            initial["message"] = request.GET["q"]
        form = ChatForm(initial=initial)
    return {
        "app": app,
        "nav": "apps",
        "conversation_id": conversation_id,
        "turns": turns,
        "in_flight": in_flight,
        "conversations": services.conversations(app, request.user),
        "instructions": app.current_instructions(),
        "form": form,
    }


@login_required
@require_http_methods(["GET", "POST"])
def chat(request: HttpRequest, slug: str) -> HttpResponse:
    app = get_app_for(request.user, slug, "query")
    if request.method == "POST":
        # Without JavaScript: run the whole turn, then show the conversation.
        form, turn, refusal = _checked_turn(request, app)
        if turn is None:
            conversation_id = request.POST.get("conversation_id", "")
            if not services.CONVERSATION_ID.match(conversation_id):
                conversation_id = services.new_conversation_id()
            context = _page_context(request, app, conversation_id, form)
            return _refused(render(request, "chat/chat.html", context, status=400), refusal)
        done = run_turn(**turn)
        return redirect(f"{reverse('chat', args=[app.slug])}?c={done.request.conversation_id}")
    conversation_id = request.GET.get("c", "")
    if not services.CONVERSATION_ID.match(conversation_id) or services.conversation_taken(
        app, request.user, conversation_id
    ):
        conversation_id = services.new_conversation_id()
    template = "chat/chat.html"
    if request.htmx and request.htmx.target in ("chat", "turns"):
        # The conversation switched (#chat), or a turn being answered when the page loaded (#turns).
        template += f"#{request.htmx.target}"
    return TemplateResponse(request, template, _page_context(request, app, conversation_id))


@login_required
@require_POST
def chat_stream(request: HttpRequest, slug: str) -> HttpResponse:
    """One turn as server-sent events (see services.turn_events); bad input → 400 JSON by field."""
    app = get_app_for(request.user, slug, "query")
    form, turn, refusal = _checked_turn(request, app)
    if turn is None:
        errors = {field: " ".join(messages) for field, messages in form.errors.items()}
        return _refused(JsonResponse({"errors": errors}, status=400), refusal)
    events = services.marked_in_flight(
        # The chain's own words (errno, URL) are for the app's managers.
        services.turn_events(**turn, summarised=not can(app, "update")),
        app=app,
        user=request.user,
        conversation_id=turn["conversation_id"],
        question=form.cleaned_data["message"],
    )
    return event_stream(events)


@login_required
@require_GET
def chat_turn(request: HttpRequest, slug: str, request_id) -> HttpResponse:
    """One finished turn (answer, passages, feedback panel), and the refreshed conversation list."""
    app = get_app_for(request.user, slug, "query")
    turn = Request.objects.filter(app=app, user=request.user, request_id=request_id).first()
    if turn is None:
        raise Http404("No such turn")
    context = {
        "app": app,
        "turn": services.summarised([turn])[0],
        "last": True,
        "conversation_id": turn.conversation_id,
        "conversations": services.conversations(app, request.user),
    }
    return render(request, "chat/turn.html", context)
