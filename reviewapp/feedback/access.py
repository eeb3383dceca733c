"""Which requests a user may see and give feedback on: the rule exists here once.

Managers see every request of the app. A querier sees their own requests and the requests
in review queues of that app open to them (named as a reviewer, or an open queue).
"""

import uuid

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery

from reviewapp.catalog.models import App, Level
from reviewapp.catalog.permissions import can
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


def visible_request(user, app: App, request_id, *, to_record: bool = False) -> Request | None:
    """The request `request_id` of `app` if `user` may see it, else None (also for a malformed id).

    The same rule as requests_visible_to, checked on one row: the review item's and the Feedback
    API's hot path. A read takes one query. `to_record`: the query also reads what recording `user`'s
    feedback needs (services.record_feedback), and someone else's request is checked for an open
    queue by a second query only then: most writes are by managers or on one's own turns, whose
    check needs no subquery to build.
    """
    try:
        request_id = uuid.UUID(str(request_id))
    except ValueError:
        return None
    if not can(app, "feedback") and not can(app, "monitor"):
        return None
    requests = Request.objects.filter(app=app, request_id=request_id)
    if to_record:
        requests = requests.annotate(**recording_facts(user))
    elif not can(app, "monitor"):
        requests = requests.filter(
            Q(user=user) | Exists(_open_queue_items(user, app).filter(request=OuterRef("pk")))
        )
    req = next(iter(requests), None)
    if req is None:
        return None
    req.app = app
    if not to_record or can(app, "monitor") or req.user_id == user.pk:
        return req
    return req if _open_queue_items(user, app).filter(request=req).exists() else None


def _open_queue_items(user, app: App):
    from reviewapp.queues.models import QueueItem, ReviewQueue

    return QueueItem.objects.filter(queue__in=ReviewQueue.objects.filter(app=app).open_to(user))


def recording_facts(user) -> dict:
    """Annotations of a request that record_feedback reads instead of querying: whether `user` has
    drafts on it, and the version of its app's reviewer instructions in force."""
    from reviewapp.catalog.models import ReviewInstructions

    from .models import FeedbackDraft

    return {
        "reviewer_has_drafts": Exists(FeedbackDraft.objects.filter(request=OuterRef("pk"), reviewer=user)),
        "instructions_in_force": Subquery(
            ReviewInstructions.objects.filter(app=OuterRef("app_id"))
            .order_by("-version")
            .values("version")[:1]
        ),
    }
