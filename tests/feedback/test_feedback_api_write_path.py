"""The Feedback API's write path reads what it needs with the visibility query: drafts, the
instructions in force and the reviewer listing come out right, in fewer statements."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from reviewapp.accounts.models import ApiToken
from reviewapp.catalog.models import Level, ReviewInstructions
from reviewapp.feedback.models import Assessment, FeedbackDraft, FeedbackReviewer
from reviewapp.feedback.services import record_feedback
from reviewapp.queues import services as queues
from tests import factories

TRANSACTION = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE SAVEPOINT")


@pytest.fixture
def api(client, querier):
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {ApiToken.issue(user=querier, name='t')[1]}"

    def post(req, **fields):
        body = {"request_id": str(req.request_id), **fields}
        return client.post(f"/api/v1/apps/{req.app.slug}/feedback", body, content_type="application/json")

    return post


@pytest.fixture
def req(app, querier):
    return factories.make_request(app, user=querier)


def statements(queries) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(TRANSACTION)]


def test_it_records_the_instructions_in_force_when_it_is_written(app, req, api):
    assert api(req, rating="positive").status_code == 201
    ReviewInstructions.objects.create(app=app, version=1, markdown="Be strict.")
    ReviewInstructions.objects.create(app=app, version=2, markdown="Be stricter.")
    assert api(req, rating="negative").status_code == 201

    assert list(Assessment.objects.order_by("id").values_list("instructions_version", flat=True)) == [None, 2]


def test_text_sent_by_the_api_clears_the_reviewers_draft_of_it_and_no_one_elses(
    app, req, querier, manager, api
):
    FeedbackDraft.objects.create(request=req, reviewer=querier, field="comment", text="typing…")
    FeedbackDraft.objects.create(request=req, reviewer=querier, field="other_reason", text="half")
    FeedbackDraft.objects.create(request=req, reviewer=manager, field="comment", text="theirs")

    assert api(req, comment="Sent by the API").status_code == 201

    left = set(FeedbackDraft.objects.values_list("reviewer__email", "field"))
    assert left == {("querier@example.com", "other_reason"), ("manager@example.com", "comment")}


def test_each_reviewer_is_listed_once_from_their_first_feedback(app, req, querier, manager, api):
    assert api(req, rating="positive").status_code == 201
    assert api(req, comment="more").status_code == 201
    reviewer = factories.make_user("reviewer@example.com")
    factories.grant(app, reviewer, Level.CAN_QUERY)
    queues.create_queue(app=app, name="Q", created_by=manager, reviewers=[reviewer], request_ids=[req.pk])
    record_feedback(request=req, reviewer=reviewer, changes={"rating": "negative"})

    listed = sorted(FeedbackReviewer.objects.filter(request=req).values_list("reviewer__email", flat=True))
    assert listed == ["querier@example.com", "reviewer@example.com"]


def test_a_change_of_mind_takes_at_most_ten_statements(req, api):
    assert api(req, rating="positive").status_code == 201

    with CaptureQueriesContext(connection) as queries:
        assert api(req, rating="negative", comment="on second thoughts").status_code == 201

    # Token, app, request (with the drafts and instructions), lock, effective row, insert, and the
    # summary's four (effective rows, context span, summary row, reasons).
    assert len(statements(queries)) <= 10, "\n".join(statements(queries))
