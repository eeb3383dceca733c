"""GET /api/v1/apps/{slug}/requests/{request_id}: one request as its reviewer reads it, visible as
for the Feedback API, in at most four queries."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from reviewapp.accounts.models import ApiToken
from reviewapp.catalog.models import Level
from reviewapp.queues import services as queues
from reviewapp.requestlog.errors import error_summary
from tests import factories

TRACE = {
    "spans": [
        {"name": "chain", "span_id": "a", "start_time_unix_nano": 1, "end_time_unix_nano": 9},
        {"name": "retrieve", "span_id": "b", "parent_span_id": "a", "start_time_unix_nano": 2},
        {"name": "generate", "span_id": "c", "parent_span_id": "a", "start_time_unix_nano": 5},
    ]
}
CHAIN_ERROR = "Could not reach the chain at http://10.0.0.7:8080/invocations: [Errno 111] Connection refused"


def url(app, request_id) -> str:
    return f"/api/v1/apps/{app.slug}/requests/{request_id}"


def token_client(client, user):
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {ApiToken.issue(user=user, name='t')[1]}"
    return client


def post_feedback(client, app, req, **fields):
    body = {"request_id": str(req.request_id), **fields}
    response = client.post(f"/api/v1/apps/{app.slug}/feedback", body, content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture
def own(app, querier):
    return factories.make_request(
        app,
        user=querier,
        response="Open Settings and press Rotate [1]. Revoked tokens stop at once [2].",
        mlflow_trace_id="tr-own",
        trace=TRACE,
        latency_ms=812,
        request_tokens=120,
        response_tokens=30,
        total_tokens=150,
    )


def test_the_asker_reads_the_turn_with_passages_numbered_as_cited_and_a_trace_summary(
    app, querier, own, client
):
    body = token_client(client, querier).get(url(app, own.request_id)).json()

    assert body["request_id"] == str(own.request_id)
    assert body["messages"] == own.messages and body["response"] == own.response
    assert body["status"] == "ok" and body["error"] == ""
    assert [(p["number"], p["position"], p["doc_uri"]) for p in body["passages"]] == [
        (1, 0, "docs://tokens#rotate"),
        (2, 1, "docs://tokens#revoke"),
    ]
    assert body["trace"] == {
        "mlflow_trace_id": "tr-own",
        "spans": 3,
        "latency_ms": 812,
        "request_tokens": 120,
        "response_tokens": 30,
        "total_tokens": 150,
    }
    assert body["feedback"] is None


def test_the_feedback_is_the_readers_effective_row_and_no_one_elses(app, querier, manager, own, client):
    token_client(client, querier)
    post_feedback(client, app, own, rating="negative", comment="first")
    latest = post_feedback(client, app, own, comment="second thoughts")
    manager_client = token_client(type(client)(), manager)
    post_feedback(manager_client, app, own, rating="positive")

    mine = client.get(url(app, own.request_id)).json()["feedback"]
    assert mine["assessment_id"] == latest["assessment_id"]
    assert (mine["rating"], mine["comment"], mine["effective"]) == ("negative", "second thoughts", True)
    assert mine["mlflow_sync"] == "pending"
    theirs = manager_client.get(url(app, own.request_id)).json()["feedback"]
    assert theirs["rating"] == "positive" and theirs["comment"] == ""


@pytest.mark.parametrize("who", ["manager", "querier", "queue_reviewer"])
def test_it_takes_at_most_four_queries_with_the_token(who, app, manager, querier, own, client):
    reader = {"manager": manager, "querier": querier}.get(who)
    if who == "queue_reviewer":
        reader = factories.make_user("reviewer@example.com")
        factories.grant(app, reader, Level.CAN_QUERY)
        queues.create_queue(app=app, name="Q", created_by=manager, request_ids=[own.request_id])
    token_client(client, reader)
    post_feedback(client, app, own, rating="positive", comment="fine")

    with CaptureQueriesContext(connection) as queries:
        response = client.get(url(app, own.request_id))

    assert response.status_code == 200 and response.json()["feedback"]["comment"] == "fine"
    statements = [q["sql"] for q in queries.captured_queries]
    assert len(statements) <= 4, "\n".join(statements)


def test_a_request_the_reader_may_not_see_is_a_404_with_a_reason(
    app, manager, querier, viewer, outsider, client
):
    someone_elses = factories.make_request(app, user=manager)
    other_app = factories.make_app("other-bot")
    factories.grant(other_app, querier, Level.CAN_MANAGE)
    of_another_app = factories.make_request(other_app, user=querier)
    token_client(client, querier)

    for request_id in (someone_elses.request_id, of_another_app.request_id, uuid.uuid4(), "not-an-id"):
        response = client.get(url(app, request_id))
        assert response.status_code == 404, request_id
        assert "detail" in response.json()
    # Below CAN_QUERY: refused as the Feedback API refuses it; no grant: the app does not exist.
    assert token_client(type(client)(), viewer).get(url(app, someone_elses.request_id)).status_code == 403
    assert token_client(type(client)(), outsider).get(url(app, someone_elses.request_id)).status_code == 404
    assert type(client)().get(url(app, someone_elses.request_id)).status_code in (401, 403)


def test_a_reviewer_of_an_open_queue_reads_it_until_it_leaves_the_queue(app, manager, client):
    reviewer = factories.make_user("reviewer@example.com")
    factories.grant(app, reviewer, Level.CAN_QUERY)
    req = factories.make_request(app, user=manager)
    token_client(client, reviewer)
    assert client.get(url(app, req.request_id)).status_code == 404

    queue, _ = queues.create_queue(app=app, name="Q", created_by=manager, request_ids=[req.request_id])
    assert client.get(url(app, req.request_id)).status_code == 200

    queue.items.all().delete()
    assert client.get(url(app, req.request_id)).status_code == 404


def test_a_failed_turn_reads_in_words_for_reviewers_and_in_full_for_managers(app, manager, querier, client):
    failed = factories.make_request(app, user=querier, status="error", response="", error=CHAIN_ERROR)

    reviewer_sees = token_client(client, querier).get(url(app, failed.request_id)).json()["error"]
    manager_sees = token_client(type(client)(), manager).get(url(app, failed.request_id)).json()["error"]

    assert reviewer_sees == error_summary(CHAIN_ERROR) and "10.0.0.7" not in reviewer_sees
    assert manager_sees == CHAIN_ERROR


def test_the_client_reads_a_review_item(app, querier, own, client_as):
    api = client_as(querier)
    api.send_feedback(app.slug, str(own.request_id), rating="negative", comment="cites nothing")

    item = api.get_review_item(app.slug, str(own.request_id))

    assert item["feedback"]["comment"] == "cites nothing"
    assert [p["number"] for p in item["passages"]] == [1, 2]
