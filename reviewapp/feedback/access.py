"""Which requests a user may see and give feedback on: the rule exists here once.

Managers see every request of the app. A querier sees their own requests and the requests
in review queues of that app open to them (named as a reviewer, or an open queue).
"""

import uuid

from django.db.models import Exists, OuterRef, Q, QuerySet

from reviewapp.catalog.models import App, Level
from reviewapp.catalog.permissions import can
from reviewapp.lib.compiled import CompiledQuery
from reviewapp.requestlog.models import Request


def requests_visible_to(user, app: App) -> QuerySet[Request]:
    """Requests of `app` that `user` may see; `app` must come from get_app_for (it carries `level`)."""
    requests = Request.objects.filter(app=app)
    if can(app, "monitor"):
        return requests
    if (getattr(app, "level", None) or Level.NONE) < Level.CAN_QUERY:
        return requests.none()
    from reviewapp.queues.models import ReviewQueue

    open_to_user = ReviewQueue.objects.filter(app=app).open_to(user)
    return requests.filter(Q(user=user) | Q(queue_items__queue__in=open_to_user)).distinct()


# What recording feedback reads of the request itself (services.record_feedback, the serializer).
RECORDING_FIELDS = ("request_id", "app_id", "app_version", "user_id", "mlflow_trace_id", "chunks")


def _visible(
    shape: tuple[bool, bool, bool, bool], *, app_id, request_id, user_id, assessment_id=None
) -> QuerySet[Request]:
    """The request if the user may see it; shape: (the user manages the app, recording feedback,
    reading it as a review item, recording it under an assessment_id)."""
    manages, to_record, as_item, _ = shape
    requests = Request.objects.filter(app_id=app_id, request_id=request_id)
    if not manages:
        open_items = _open_queue_items(user_id, app_id).filter(request=OuterRef("pk"))
        requests = requests.filter(Q(user_id=user_id) | Exists(open_items))
    if to_record:
        from .services import recording_facts

        requests = requests.only(*RECORDING_FIELDS).annotate(**recording_facts(user_id, assessment_id))
    if as_item:
        from .items import SpanCount

        # The item shows how many spans the trace holds, never the trace itself.
        requests = requests.defer("trace").annotate(trace_spans=SpanCount("trace"))
    return requests


# Compiled once per process: building this query costs the ORM more than running it.
VISIBLE = CompiledQuery(Request, _visible)


def visible_request(
    user,
    app: App,
    request_id,
    *,
    to_record: bool = False,
    as_item: bool = False,
    assessment_id: uuid.UUID | None = None,
) -> Request | None:
    """The request `request_id` of `app` if `user` may see it, else None (also for a malformed id).

    The same rule as requests_visible_to, checked on one row in one query: the review item's and the
    Feedback API's hot path. `to_record`: the query also reads what recording `user`'s feedback
    needs (services.recording_facts, for a call under `assessment_id` if given), so the write that
    follows is its INSERT alone, and a retried call none. `as_item`: what
    items.review_item reads, the trace's span count (`trace_spans`) instead of the trace.
    """
    try:
        request_id = uuid.UUID(str(request_id))
    except ValueError:
        return None
    if not can(app, "feedback") and not can(app, "monitor"):
        return None
    sent = {"assessment_id": assessment_id} if to_record and assessment_id is not None else {}
    shape = (can(app, "monitor"), to_record, as_item, bool(sent))
    req = VISIBLE.first(shape, app_id=app.pk, request_id=request_id, user_id=user.pk, **sent)
    if req is None:
        return None
    req.app = app
    if to_record:
        req.facts_of = (user.pk, assessment_id)
    return req


def _open_queue_items(user_id: int, app_id: int):
    from reviewapp.queues.models import QueueItem, ReviewQueue

    return QueueItem.objects.filter(queue__in=ReviewQueue.objects.filter(app_id=app_id).open_to(user_id))
