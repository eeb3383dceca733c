"""Reviewed requests for the export tests."""

import datetime as dt

from django.utils import timezone

from reviewapp.exports.models import CustomJudge
from reviewapp.feedback.models import Assessment
from reviewapp.requestlog.models import Request
from tests import factories
from tests.processes import wait_until  # noqa: F401 - the exports tests' name for it

_clock = [timezone.now() - dt.timedelta(days=1)]


def tick() -> dt.datetime:
    _clock[0] += dt.timedelta(seconds=1)
    return _clock[0]


def review(request, reviewer, rating="positive", **fields) -> Assessment:
    """One (effective, unless a later one follows) feedback row by `reviewer` on `request`."""
    fields.setdefault("created_at", tick())
    return factories.make_assessment(request, reviewer, rating, app_version=request.app_version, **fields)


def reviewed(app, reviewer, rating="positive", question="How do I rotate an API token?", **fields):
    request = factories.make_request(app, question=question, created_at=tick())
    review(request, reviewer, rating, **fields)
    return request


def custom_judge(app, name: str, kind: str, definition: str, *reasons: str) -> CustomJudge:
    """A custom judge on `app` that says false where a review gives one of `reasons`."""
    return CustomJudge.objects.create(
        app=app, name=name, type=kind, definition=definition, reasons=list(reasons)
    )


def relevant(*positions, not_relevant=()):
    ratings = [
        {"position": p, "doc_uri": f"docs://{p}", "rating": "relevant", "comment": ""} for p in positions
    ]
    ratings += [
        {"position": p, "doc_uri": f"docs://{p}", "rating": "not_relevant", "comment": "off"}
        for p in not_relevant
    ]
    return ratings


def reviewed_many(app, reviewer, count: int) -> None:
    """`count` requests with one positive review each, written in bulk (a large export)."""
    start = tick()
    requests = Request.objects.bulk_create(
        [
            Request(
                app=app,
                messages=[{"role": "user", "content": f"Question {i}?"}],
                response="Open Settings, then API tokens, and press Rotate.",
                conversation_id=f"conversation-{i}",
                source=Request.Source.REVIEW_APP,
                app_version=app.version,
                created_at=start + dt.timedelta(milliseconds=i),
            )
            for i in range(count)
        ],
        batch_size=2000,
    )
    Assessment.objects.bulk_create(
        [
            Assessment(
                request=request,
                app=app,
                reviewer=reviewer,
                source_id=reviewer.email,
                rating="positive",
                app_version=request.app_version,
                created_at=request.created_at,
            )
            for request in requests
        ],
        batch_size=2000,
    )
    _clock[0] = start + dt.timedelta(milliseconds=count)
