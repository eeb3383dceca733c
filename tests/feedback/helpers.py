"""Feedback recorded the way the review page and the API record it."""

from reviewapp.feedback.models import Assessment
from reviewapp.feedback.services import record_feedback


def feedback(request, reviewer, **changes) -> Assessment:
    """`reviewer`'s feedback on `request` through feedback.services: the row it stores."""
    return record_feedback(request=request, reviewer=reviewer, changes=changes).assessment
