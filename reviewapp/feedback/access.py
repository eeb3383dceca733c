"""Which requests a user may see and give feedback on: the rule exists here once.

Managers see every request of the app. A querier sees their own requests and the requests
in review queues of that app open to them (named as a reviewer, or an open queue).
"""

import uuid

from django.db.models import Q, QuerySet

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

    open_to_user = ReviewQueue.objects.filter(app=app).filter(
        Q(reviewers=user) | Q(assignment=ReviewQueue.Assignment.OPEN)
    )
    return requests.filter(Q(user=user) | Q(queue_items__queue__in=open_to_user)).distinct()


def visible_request(user, app: App, request_id) -> Request | None:
    """The request `request_id` of `app` if `user` may see it, else None (also for a malformed id)."""
    try:
        request_id = uuid.UUID(str(request_id))
    except ValueError:
        return None
    return requests_visible_to(user, app).filter(request_id=request_id).select_related("app").first()
