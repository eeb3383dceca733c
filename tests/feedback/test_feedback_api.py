import json
import uuid

import pytest

from reviewapp.catalog.models import Level
from reviewapp.feedback.models import Assessment
from reviewapp.queues.models import QueueItem, ReviewQueue
from tests import factories

URL = "/api/v1/apps/support-bot/feedback"


@pytest.fixture
def req(app, querier):
    return factories.make_request(app, user=querier)


def post(client, body, url=URL):
    return client.post(url, data=json.dumps(body), content_type="application/json")


def test_every_field_is_stored_and_returned(as_user, querier, req):
    body = {
        "request_id": str(req.pk),
        "assessment_id": str(uuid.uuid4()),
        "rating": "negative",
        "reasons": ["inaccurate", "other"],
        "other_reason": "Mentions a menu that does not exist",
        "comment": "<script>alert(1)</script> is not a step",
        "corrected_response": "Open Settings > API tokens > Rotate.",
        "retrieval_assessments": [
            {"position": 0, "rating": "relevant"},
            {"position": 1, "rating": "not_relevant", "comment": "about revoking"},
        ],
        "missing_sources": [{"doc_uri": "docs://tokens#scopes"}, {"content": "Rotation keeps the scopes."}],
    }
    response = post(as_user(querier), body)

    assert response.status_code == 201, response.json()
    data = response.json()
    row = Assessment.objects.get()
    assert data["assessment_id"] == body["assessment_id"] == str(row.assessment_id)
    assert data["request_id"] == str(req.pk)
    assert data["source"] == {"source_type": "HUMAN", "source_id": "querier@example.com"}
    assert data["effective"] is True
    assert data["mlflow_sync"] is None
    for name in ("rating", "reasons", "other_reason", "comment", "corrected_response"):
        assert data[name] == body[name] == getattr(row, name)
    assert row.retrieval_assessments == [
        {"position": 0, "doc_uri": "docs://tokens#rotate", "rating": "relevant", "comment": ""},
        {
            "position": 1,
            "doc_uri": "docs://tokens#revoke",
            "rating": "not_relevant",
            "comment": "about revoking",
        },
    ]
    assert row.missing_sources == [
        {"doc_uri": "docs://tokens#scopes", "content": ""},
        {"doc_uri": "", "content": "Rotation keeps the scopes."},
    ]


def test_a_replayed_assessment_id_answers_200_with_the_stored_row_and_stores_nothing(as_user, querier, req):
    body = {"request_id": str(req.pk), "assessment_id": str(uuid.uuid4()), "rating": "positive"}
    client = as_user(querier)
    first = post(client, body)
    replay = post(client, {**body, "rating": "negative"})

    assert (first.status_code, replay.status_code) == (201, 200)
    assert replay.json() == first.json()
    assert Assessment.objects.count() == 1


def test_a_second_call_merges_into_the_effective_feedback_and_flags_the_first_as_history(
    as_user, querier, manager, req
):
    client = as_user(querier)
    first = post(client, {"request_id": str(req.pk), "rating": "negative", "reasons": ["incomplete"]}).json()
    second = post(client, {"request_id": str(req.pk), "comment": "Also misses the scopes"}).json()

    assert (second["rating"], second["reasons"], second["comment"]) == (
        "negative",
        ["incomplete"],
        "Also misses the scopes",
    )
    log = as_user(manager).get("/api/v1/apps/support-bot/assessments").json()["results"]
    assert [(item["assessment_id"], item["effective"]) for item in log] == [
        (second["assessment_id"], True),
        (first["assessment_id"], False),
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "request_id"),
        ({"request_id": "not-a-uuid", "rating": "positive"}, "request_id"),
        ({"request_id": "REQ"}, "detail"),
        ({"request_id": "REQ", "rating": "5 stars"}, "rating"),
        ({"request_id": "REQ", "reasons": ["too french"]}, "reasons"),
        ({"request_id": "REQ", "reasons": ["other"]}, "other_reason"),
        ({"request_id": "REQ", "comment": "x" * (100 * 1024 + 1)}, "comment"),
        ({"request_id": "REQ", "corrected_response": "y" * (100 * 1024 + 1)}, "corrected_response"),
        ({"request_id": "REQ", "other_reason": "z" * 2001}, "other_reason"),
        (
            {"request_id": "REQ", "retrieval_assessments": [{"position": 9, "rating": "relevant"}]},
            "retrieval_assessments",
        ),
        (
            {"request_id": "REQ", "retrieval_assessments": [{"position": 0, "rating": "meh"}]},
            "retrieval_assessments",
        ),
        ({"request_id": "REQ", "retrieval_assessments": [{"rating": "relevant"}]}, "retrieval_assessments"),
        ({"request_id": "REQ", "retrieval_assessments": {"position": 0}}, "retrieval_assessments"),
        ({"request_id": "REQ", "missing_sources": [{}]}, "missing_sources"),
        ({"request_id": "REQ", "missing_sources": [{"doc_uri": "", "content": ""}]}, "missing_sources"),
        ({"request_id": "REQ", "rating": "positive", "thumbs": "up"}, "thumbs"),
        ({"request_id": "REQ", "assessment_id": "nope", "rating": "positive"}, "assessment_id"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(as_user, querier, req, body, field):
    body = {k: (str(req.pk) if v == "REQ" else v) for k, v in body.items()}
    response = post(as_user(querier), body)

    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert Assessment.objects.count() == 0


def test_a_body_that_is_not_json_an_object_is_a_400(as_user, querier):
    client = as_user(querier)
    assert client.post(URL, data="[1, 2]", content_type="application/json").status_code == 400
    assert client.post(URL, data="{nope", content_type="application/json").status_code == 400
    assert Assessment.objects.count() == 0


def test_an_unknown_request_or_one_of_another_app_is_a_400_on_request_id(as_user, querier, req):
    other_app = factories.make_app("other-bot")
    factories.grant(other_app, querier, Level.CAN_QUERY)
    elsewhere = factories.make_request(other_app, user=querier)
    client = as_user(querier)

    for request_id in (uuid.uuid4(), elsewhere.pk):
        response = post(client, {"request_id": str(request_id), "rating": "positive"})
        assert response.status_code == 400
        assert "request_id" in response.json()
    assert Assessment.objects.count() == 0


def test_a_querier_cannot_give_feedback_on_another_users_request(as_user, querier, group_querier, app):
    theirs = factories.make_request(app, user=group_querier)
    response = post(as_user(querier), {"request_id": str(theirs.pk), "rating": "positive"})
    assert response.status_code == 400 and "request_id" in response.json()


def test_a_querier_can_give_feedback_on_a_request_in_a_queue_they_review(
    as_user, querier, group_querier, app
):
    theirs = factories.make_request(app, user=group_querier)
    queue = ReviewQueue.objects.create(app=app, name="Week 1", assignment=ReviewQueue.Assignment.NAMED)
    queue.reviewers.add(querier)
    QueueItem.objects.create(queue=queue, request=theirs)

    response = post(as_user(querier), {"request_id": str(theirs.pk), "rating": "positive"})
    assert response.status_code == 201


def test_a_manager_can_give_feedback_on_any_request_of_the_app(as_user, manager, req):
    assert post(as_user(manager), {"request_id": str(req.pk), "rating": "positive"}).status_code == 201


def test_a_group_querier_can_give_feedback_on_their_own_request(as_user, group_querier, app):
    mine = factories.make_request(app, user=group_querier)
    assert post(as_user(group_querier), {"request_id": str(mine.pk), "rating": "negative"}).status_code == 201


def test_a_viewer_gets_403_an_outsider_404_and_anonymous_401_or_403(as_user, viewer, outsider, req):
    body = {"request_id": str(req.pk), "rating": "positive"}
    assert post(as_user(viewer), body).status_code == 403
    assert post(as_user(outsider), body).status_code == 404
    assert post(as_user(None), body).status_code in (401, 403)
    assert Assessment.objects.count() == 0


def test_it_works_with_a_bearer_token(client, querier, req):
    from reviewapp.accounts.models import ApiToken

    _, raw = ApiToken.issue(user=querier, name="ci")
    response = client.post(
        URL,
        data=json.dumps({"request_id": str(req.pk), "rating": "positive"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert response.status_code == 201
    assert Assessment.objects.get().source_id == "querier@example.com"


def test_a_first_call_holding_only_defaults_is_a_400(as_user, querier, req):
    response = post(as_user(querier), {"request_id": str(req.pk), "comment": "", "rating": None})
    assert response.status_code == 400 and "detail" in response.json()
    assert Assessment.objects.count() == 0


def test_the_feedback_api_is_in_the_openapi_schema(as_user, querier):
    schema = as_user(querier).get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert "/api/v1/apps/{slug}/feedback" in schema["paths"]
    assert "/api/v1/apps/{slug}/assessments" in schema["paths"]
