"""reviewapp.client's feedback methods against a real server over real HTTP."""

import uuid

import pytest

from reviewapp.client import ApiError
from reviewapp.feedback.models import Assessment
from tests import factories


def test_send_feedback_stores_once_even_when_retried(client_as, app, querier, transactional_db):
    req = factories.make_request(app, user=querier)
    client = client_as(querier)
    key = str(uuid.uuid4())

    first = client.send_feedback(
        "support-bot",
        req.pk,
        assessment_id=key,
        rating="negative",
        reasons=["incomplete"],
        comment="Half of it",
    )
    again = client.send_feedback("support-bot", req.pk, assessment_id=key, rating="negative")

    assert first == again
    assert (first["rating"], first["reasons"], first["comment"]) == ("negative", ["incomplete"], "Half of it")
    assert Assessment.objects.count() == 1


def test_send_feedback_raises_an_api_error_naming_the_field(client_as, app, querier, transactional_db):
    req = factories.make_request(app, user=querier)
    with pytest.raises(ApiError) as info:
        client_as(querier).send_feedback(
            "support-bot", req.pk, retrieval_assessments=[{"position": 5, "rating": "relevant"}]
        )
    assert info.value.status == 400 and "retrieval_assessments" in info.value.body


def test_list_assessments_follows_the_cursor_and_filters(client_as, app, querier, manager, transactional_db):
    requests = [factories.make_request(app, user=querier) for _ in range(5)]
    sender = client_as(querier)
    for n, req in enumerate(requests):
        sender.send_feedback("support-bot", req.pk, rating="positive" if n % 2 else "negative")

    reader = client_as(manager)
    every = list(reader.list_assessments("support-bot", page_size=2))
    negative = list(reader.list_assessments("support-bot", rating="negative", effective=True))

    assert sorted(a["request_id"] for a in every) == sorted(str(r.pk) for r in requests)
    assert len(negative) == 3 and {a["rating"] for a in negative} == {"negative"}
