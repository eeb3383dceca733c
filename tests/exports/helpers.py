"""Reviewed requests for the export tests."""

import datetime as dt

from django.utils import timezone

from reviewapp.feedback.models import Assessment
from tests import factories

_clock = [timezone.now() - dt.timedelta(days=1)]


def tick() -> dt.datetime:
    _clock[0] += dt.timedelta(seconds=1)
    return _clock[0]


def review(request, reviewer, rating="positive", **fields) -> Assessment:
    """One (effective, unless a later one follows) feedback row by `reviewer` on `request`."""
    fields.setdefault("created_at", tick())
    return Assessment.objects.create(
        request=request,
        app=request.app,
        reviewer=reviewer,
        source_id=reviewer.email,
        rating=rating,
        app_version=request.app_version,
        **fields,
    )


def reviewed(app, reviewer, rating="positive", question="How do I rotate an API token?", **fields):
    request = factories.make_request(app, question=question, created_at=tick())
    review(request, reviewer, rating, **fields)
    return request


def relevant(*positions, not_relevant=()):
    ratings = [
        {"position": p, "doc_uri": f"docs://{p}", "rating": "relevant", "comment": ""} for p in positions
    ]
    ratings += [
        {"position": p, "doc_uri": f"docs://{p}", "rating": "not_relevant", "comment": "off"}
        for p in not_relevant
    ]
    return ratings
