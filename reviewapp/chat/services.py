"""Conversations on top of the request log, and the event stream both the chat and the API send."""

import json
import logging
import re
import uuid
from collections.abc import Iterator

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db.models import Max, Min

from reviewapp.catalog.models import App
from reviewapp.chains.messages import check_question
from reviewapp.requestlog.errors import error_summary
from reviewapp.requestlog.models import Request
from reviewapp.requestlog.services import Turn, stream_turn

logger = logging.getLogger(__name__)

CONVERSATION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")


def new_conversation_id() -> str:
    return str(uuid.uuid4())


def conversation_taken(app: App, user, conversation_id: str) -> bool:
    """True when `conversation_id` is another user's conversation on this app."""
    return Request.objects.filter(app=app, conversation_id=conversation_id).exclude(user=user).exists()


def check_turn(*, app: App, user, messages: list[dict], conversation_id: str | None) -> None:
    """Raise ValidationError by field unless `messages` may be sent as a new turn of this user's
    `conversation_id` (None: a new conversation)."""
    errors = {}
    try:
        check_question(messages)
    except ValidationError as error:
        errors["messages"] = error.messages
    if conversation_id and conversation_taken(app, user, conversation_id):
        errors["conversation_id"] = ["This conversation belongs to another user; start a new one."]
    if errors:
        raise ValidationError(errors)


def next_turn(app: App, user, conversation_id: str, question: str) -> list[dict]:
    """The messages of the conversation's next turn: its history and the user's new question."""
    return [*history(app, user, conversation_id), {"role": "user", "content": question}]


def conversation_turns(app: App, user, conversation_id: str) -> list[Request]:
    return list(
        Request.objects.filter(app=app, user=user, conversation_id=conversation_id).order_by(
            "created_at", "request_id"
        )
    )


def history(app: App, user, conversation_id: str) -> list[dict]:
    """The messages so far: the last answered turn's messages and its answer (failed turns drop out)."""
    last = (
        Request.objects.filter(app=app, user=user, conversation_id=conversation_id, status=Request.Status.OK)
        .order_by("-created_at", "-request_id")
        .first()
    )
    if last is None:
        return []
    return [*last.messages, {"role": "assistant", "content": last.response}]


def conversations(app: App, user, limit: int = 50) -> list[dict]:
    """The user's chats on this app, newest first: id, title (first question), turns, last time."""
    rows = list(
        Request.objects.filter(app=app, user=user, source=Request.Source.REVIEW_APP)
        .values("conversation_id")
        .annotate(started=Min("created_at"), last=Max("created_at"))
        .order_by("-last")[:limit]
    )
    firsts = {}
    ids = [row["conversation_id"] for row in rows]
    for req in (
        Request.objects.filter(app=app, user=user, conversation_id__in=ids)
        .order_by("created_at")
        .only("conversation_id", "messages", "created_at")
    ):
        firsts.setdefault(req.conversation_id, req.request_text)
    return [{**row, "title": firsts.get(row["conversation_id"], "")} for row in rows]


def summarised(turns: list[Request]) -> list[Request]:
    """`turns`, each failed or cut-off one with `error_summary` set for the page."""
    for turn in turns:
        turn.error_summary = error_summary(turn.error) if turn.error else ""
    return turns


# A turn being answered is marked in the cache until it is logged, so that a page loaded meanwhile
# (a reload mid-answer) shows the question and waits for the turn rather than an empty chat.
_IN_FLIGHT_SECONDS = 15 * 60


def _in_flight_key(app: App, user, conversation_id: str) -> str:
    return f"chat:in-flight:{app.pk}:{user.pk}:{conversation_id}"


def in_flight(app: App, user, conversation_id: str) -> dict | None:
    """The turn of this conversation being answered now ({"question"}), or None."""
    found = cache.get(_in_flight_key(app, user, conversation_id))
    return found if isinstance(found, dict) else None


def marked_in_flight(events: Iterator[str], *, app: App, user, conversation_id: str, question: str):
    """`events` (a turn's stream), with the turn marked in flight until the stream ends or is closed
    (by then the turn is logged, also when the reader left mid-answer)."""
    key = _in_flight_key(app, user, conversation_id)
    cache.set(key, {"question": question}, _IN_FLIGHT_SECONDS)
    try:
        yield from events
    finally:
        events.close()
        cache.delete(key)


def result_body(turn: Turn, *, summarised: bool = False) -> dict:
    """The invocation result: the same JSON for the API answer and the final event of a stream.

    `status` is the logged turn's: ok, incomplete (the answer stopped part-way: `response` is what
    came and `detail` says why) or error (`detail` only). `summarised`: `detail` in words for
    reviewers (error_summary), without the chain's details.
    """
    req = turn.request
    body = {"request_id": str(req.request_id), "conversation_id": req.conversation_id, "status": req.status}
    detail = error_summary(req.error) if summarised else req.error
    if turn.error is not None or req.status == Request.Status.ERROR:
        body["detail"] = detail
        return body
    body["response"] = req.response
    # The passages reviewers rate (what the model saw, duplicates merged), with their spans.
    body["retrieved_context"] = [
        {"position": p["position"], "doc_uri": p["doc_uri"], "content": p["content"], "spans": p["spans"]}
        for p in req.passages()
    ]
    if req.status == Request.Status.INCOMPLETE:
        body["detail"] = detail
    # Characters no database can store were replaced (U+FFFD) or removed (NUL).
    body["text_altered"] = req.text_altered
    return body


def final_event(turn: Turn) -> str:
    """The name of a stream's last event: `done`, `incomplete` or `error`."""
    if turn.error is not None or turn.request.status == Request.Status.ERROR:
        return "error"
    return "incomplete" if turn.request.status == Request.Status.INCOMPLETE else "done"


def sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def turn_events(*, summarised: bool = False, **turn_kwargs) -> Iterator[str]:
    """A turn as server-sent events: `delta` {"text"} as the answer comes, then `done`, `incomplete`
    or `error` (with its `detail` in words for reviewers when `summarised`)."""
    try:
        for item in stream_turn(**turn_kwargs):
            if isinstance(item, Turn):
                yield sse(final_event(item), result_body(item, summarised=summarised))
            else:
                yield sse("delta", {"text": item})
    except Exception as exc:
        # Not even the failure could be logged (the database is gone): the browser still hears why,
        # rather than a broken stream.
        logger.exception("a streamed turn could not finish")
        detail = f"The answer could not be stored: {type(exc).__name__}"
        yield sse("error", {"detail": error_summary(detail) if summarised else detail, "status": "error"})
