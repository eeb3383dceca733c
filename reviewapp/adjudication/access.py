"""Who may adjudicate a queue: the one rule, for the pages and the API alike.

A manager of the app may adjudicate every queue of it; a user the queue names as an adjudicator
may adjudicate that queue only, and needs at least CAN_QUERY on the app. Outsiders get 404 (the
app's existence is not leaked, as everywhere), everyone else who can see the app 403.
"""

from django.core.exceptions import PermissionDenied
from django.http import Http404

from reviewapp.catalog.permissions import can, get_app_for
from reviewapp.queues.models import ReviewQueue


def may_adjudicate(*, queue: ReviewQueue, user) -> bool:
    """For an app fetched with `get_app_for` (its `level` set): manager, or a named adjudicator."""
    if can(queue.app, "monitor"):
        return True
    return can(queue.app, "query") and queue.adjudicators.filter(pk=user.pk).exists()


def get_queue_to_adjudicate(user, slug: str, queue_id: int) -> ReviewQueue:
    """The queue `queue_id` of app `slug`, with `queue.app` as `user` sees it; 404 or 403 otherwise."""
    app = get_app_for(user, slug, "view")
    queue = app.queues.filter(pk=queue_id).first()
    if queue is None:
        raise Http404("No such queue")
    queue.app = app
    if not may_adjudicate(queue=queue, user=user):
        raise PermissionDenied("Only the app's managers and this queue's adjudicators may adjudicate it")
    return queue


def queues_to_adjudicate(user) -> list[ReviewQueue]:
    """The queues `user` is named to adjudicate and still may (the same rule, per queue)."""
    allowed = []
    for queue in (
        ReviewQueue.objects.filter(adjudicators=user).select_related("app").order_by("app__name", "name")
    ):
        try:
            allowed.append(get_queue_to_adjudicate(user, queue.app.slug, queue.pk))
        except (Http404, PermissionDenied):
            continue
    return allowed
