"""A reviewer's latest row on a request, which every Feedback API write and review-item read looks
up, is one index entry read: a long history of theirs on that request sorts nothing."""

from django.db import connection

from reviewapp.feedback.models import Assessment
from reviewapp.feedback.services import recording_facts
from reviewapp.requestlog.models import Request
from tests.factories import make_app, make_request, make_user


def test_the_latest_row_of_a_long_history_is_read_in_index_order(db):
    app = make_app()
    reviewer, other = make_user(), make_user()
    req, elsewhere = make_request(app), make_request(app)
    Assessment.objects.bulk_create(
        Assessment(request=r, app=app, reviewer=who, source_id=who.email, comment=f"note {i}", revision=i + 1)
        for r, who in ((req, reviewer), (req, other), (elsewhere, reviewer))
        for i in range(2000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    # The order recording_facts and the effective-row rule read a reviewer's history in.
    plan = (
        Assessment.objects.filter(request=req, reviewer=reviewer).order_by("-created_at", "-id")[:1].explain()
    )

    if connection.vendor == "postgresql":
        # Before, the reviewer's 2,000 rows were fetched and sorted (created_at, then id) for one.
        assert "Sort" not in plan, plan
        assert "assess_req_reviewer_latest" in plan, plan
    else:
        assert "TEMP B-TREE" not in plan, plan
    latest = Request.objects.filter(pk=req.pk).annotate(**recording_facts(reviewer.pk))
    row = latest.get()
    newest = Assessment.objects.filter(request=req, reviewer=reviewer).order_by("-created_at", "-id").first()
    assert row.reviewer_latest["id"] == newest.pk and row.reviewer_revision == 2000
