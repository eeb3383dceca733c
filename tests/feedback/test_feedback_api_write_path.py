"""The Feedback API's write path reads what it needs with the visibility query (the latest row,
drafts, the instructions in force) and then only inserts: merges never lose a change, and the
summaries catch up before they are read."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from reviewapp.accounts.models import ApiToken
from reviewapp.catalog.models import Level, ReviewInstructions
from reviewapp.catalog.permissions import get_app_for
from reviewapp.feedback import summary
from reviewapp.feedback.access import visible_request
from reviewapp.feedback.models import Assessment, FeedbackDraft, FeedbackReviewer, RequestFeedback
from reviewapp.feedback.services import record_feedback
from reviewapp.queues import services as queues
from tests import factories

TRANSACTION = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK")


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
    summary.catch_up()

    listed = sorted(FeedbackReviewer.objects.filter(request=req).values_list("reviewer__email", flat=True))
    assert listed == ["querier@example.com", "reviewer@example.com"]


def test_a_change_of_mind_is_its_insert_after_three_reads(req, api):
    assert api(req, rating="positive").status_code == 201

    with CaptureQueriesContext(connection) as queries:
        assert api(req, rating="negative", comment="on second thoughts").status_code == 201

    # The token with its user, the app with the caller's level, the request with what recording
    # reads (visibility, the latest row, drafts, instructions), and the insert.
    done = statements(queries)
    assert len(done) == 4, "\n".join(done)
    assert done[-1].startswith('INSERT INTO "feedback_assessment"')


def test_a_replayed_call_is_answered_with_its_rows_own_answer_reading_nothing_else(req, api):
    older = api(req, rating="positive", assessment_id="00000000-0000-4000-8000-000000000001").json()
    latest = api(req, comment="later", assessment_id="00000000-0000-4000-8000-000000000002").json()
    row = 'SELECT "feedback_assessment"."id"'

    for sent, expected, after_the_reads in (
        # The latest call again: its row, known to be the latest.
        ({"comment": "later", "assessment_id": latest["assessment_id"]}, latest, [row]),
        # No id and nothing changes: the latest row.
        ({"comment": "later"}, latest, [row]),
        # An older call again, with other values: the reads found its row's key beside the latest
        # row's, so no insert is tried and no later row looked for; its row.
        (
            {"rating": "negative", "assessment_id": older["assessment_id"]},
            {**older, "effective": False},
            [row],
        ),
    ):
        with CaptureQueriesContext(connection) as queries:
            answer = api(req, **sent)
        assert answer.status_code == 200 and answer.json() == expected
        # After the three reads of every call, nothing reads the request or the app again.
        done = statements(queries)[3:]
        assert len(done) == len(after_the_reads), "\n".join(done)
        assert [
            sql[: len(start)] for sql, start in zip(done, after_the_reads, strict=True)
        ] == after_the_reads


def test_a_queue_reviewers_change_is_four_statements_too(app, req, manager, api, client):
    reviewer = factories.make_user("reviewer@example.com")
    factories.grant(app, reviewer, Level.CAN_QUERY)
    queues.create_queue(app=app, name="Q", created_by=manager, reviewers=[reviewer], request_ids=[req.pk])
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {ApiToken.issue(user=reviewer, name='r')[1]}"
    assert api(req, rating="positive").status_code == 201

    with CaptureQueriesContext(connection) as queries:
        assert api(req, comment="seen in the queue").status_code == 201

    assert len(statements(queries)) == 4, "\n".join(statements(queries))


def test_a_traced_request_adds_its_mlflow_write_back_row(app, querier, api):
    traced = factories.make_request(app, user=querier, mlflow_trace_id="tr-abc")
    assert api(traced, rating="positive").status_code == 201

    with CaptureQueriesContext(connection) as queries:
        assert api(traced, rating="negative").status_code == 201

    done = statements(queries)
    assert len(done) == 5, "\n".join(done)
    assert done[-1].startswith('INSERT INTO "feedback_mlflowsync"')


def test_a_change_merged_into_a_stale_base_merges_again_into_the_row_that_won(app, req, querier):
    """Two changes by one reviewer at once: the one that read its base before the other landed fails
    its insert (the revision is taken) and merges into the row that won, so neither change is lost."""
    seen_as = get_app_for(querier, app.slug, "feedback")
    stale = visible_request(querier, seen_as, req.request_id, to_record=True)  # read: no feedback yet
    record_feedback(request=req, reviewer=querier, changes={"rating": "negative", "reasons": ["inaccurate"]})

    recorded = record_feedback(request=stale, reviewer=querier, changes={"comment": "and it is slow"})

    assert recorded.created
    rows = list(Assessment.objects.filter(request=req).order_by("revision"))
    assert [r.revision for r in rows] == [1, 2]
    assert (rows[1].rating, rows[1].reasons, rows[1].comment) == (
        "negative",
        ["inaccurate"],
        "and it is slow",
    )


def test_feedback_waits_for_its_sum_until_something_reads_the_summaries(app, req, querier, api):
    assert api(req, rating="negative", reasons=["inaccurate"]).status_code == 201
    assert not RequestFeedback.objects.filter(request=req).exists()
    assert Assessment.objects.get(request=req).awaits_summary

    assert summary.catch_up() == 1

    row = RequestFeedback.objects.get(request=req)
    assert (row.reviewers, row.down, row.verdict) == (1, 1, "negative")
    assert not Assessment.objects.filter(awaits_summary=True).exists()
    assert summary.catch_up() == 0


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_a_change_with_nothing_going_with_it_is_its_insert_alone(req, api):
    assert api(req, rating="positive").status_code == 201

    with CaptureQueriesContext(connection) as queries:
        assert api(req, rating="negative", comment="on second thoughts").status_code == 201

    sql = [q["sql"] for q in queries.captured_queries]
    assert len(sql) == 4 and sql[-1].startswith('INSERT INTO "feedback_assessment"')  # no BEGIN, no COMMIT
    assert list(Assessment.objects.order_by("id").values_list("rating", flat=True)) == [
        "positive",
        "negative",
    ]


@pytest.mark.django_db(transaction=True)
def test_a_retry_that_lands_after_the_reads_of_its_twin_is_answered_with_the_twins_row(app, req, querier):
    key = uuid.UUID("00000000-0000-4000-8000-00000000000a")
    app = get_app_for(querier, app.slug, "feedback")
    # Both calls read before either stored: the second one's INSERT, alone outside a transaction,
    # is the one refused.
    first_read = visible_request(querier, app, req.request_id, to_record=True, assessment_id=key)
    second_read = visible_request(querier, app, req.request_id, to_record=True, assessment_id=key)
    assert first_read.sent_before is None and second_read.sent_before is None

    first = record_feedback(
        request=first_read, reviewer=querier, changes={"rating": "positive"}, assessment_id=key
    )
    second = record_feedback(
        request=second_read, reviewer=querier, changes={"rating": "negative"}, assessment_id=key
    )

    assert (first.created, second.created) == (True, False)
    assert second.assessment.pk == first.assessment.pk and second.assessment.rating == "positive"
    assert record_feedback(request=req, reviewer=querier, changes={"comment": "next"}).created
    assert list(Assessment.objects.order_by("id").values_list("rating", "comment")) == [
        ("positive", ""),
        ("positive", "next"),
    ]


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_a_replayed_id_is_answered_with_its_row_and_the_next_call_works(req, api):
    first = api(req, comment="first", assessment_id="6f1c1e0e-2a3b-4c5d-8e9f-0a1b2c3d4e5f")
    assert first.status_code == 201

    replay = api(req, comment="changed", assessment_id="6f1c1e0e-2a3b-4c5d-8e9f-0a1b2c3d4e5f")

    assert replay.status_code == 200 and replay.json() == {**first.json(), "effective": True}
    assert api(req, comment="next").status_code == 201
    assert list(Assessment.objects.order_by("id").values_list("comment", flat=True)) == ["first", "next"]


@pytest.mark.django_db(transaction=True)
def test_a_change_that_clears_a_draft_is_one_transaction_with_it(req, querier, api):
    FeedbackDraft.objects.create(request=req, reviewer=querier, field="comment", text="typing…")

    with CaptureQueriesContext(connection) as queries:
        assert api(req, comment="Sent").status_code == 201

    written = [q["sql"].split(" ")[0] for q in queries.captured_queries]
    assert written[-4:] == ["BEGIN", "INSERT", "DELETE", "COMMIT"]
    assert not FeedbackDraft.objects.exists()
