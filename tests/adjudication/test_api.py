"""The adjudication API: the list (open and settled, paged), setting and replacing a label, bad input."""

import json

import pytest

from reviewapp.adjudication.models import Adjudication
from tests.adjudication.helpers import disputed_queue


def url(d, request=None):
    base = f"/api/v1/apps/support-bot/review-queues/{d.queue.pk}/adjudications"
    return f"{base}/{request.request_id}" if request is not None else base


def put(client, path, body):
    return client.put(path, json.dumps(body), content_type="application/json")


def test_the_list_shows_every_reviewers_feedback_open_items_first(app, manager, as_user):
    d = disputed_queue(app)
    client = as_user(manager)

    body = client.get(url(d)).json()

    assert (body["count"], body["next"], body["previous"]) == (3, None, None)
    assert [(r["request_id"], r["status"], r["kinds"]) for r in body["results"]] == [
        (str(d.thumbs.request_id), "open", ["thumbs", "correction"]),
        (str(d.correction.request_id), "open", ["correction"]),
        (str(d.passage.request_id), "open", ["passages"]),
    ]
    thumbs = body["results"][0]
    assert thumbs["adjudication"] is None and thumbs["response"] == d.thumbs.response
    assert thumbs["reviews"][1] == {
        "number": 2,
        "reviewer": d.second.email,
        "rating": "negative",
        "reasons": ["incomplete"],
        "comment": "Misses the mobile app.",
        "corrected_response": "Open Settings, then API tokens; on mobile, Profile › Tokens.",
        "passages": [
            {"position": 0, "rating": "relevant", "comment": ""},
            {"position": 1, "rating": "not_relevant", "comment": ""},
        ],
    }


def test_a_put_settles_the_item_and_another_replaces_it(app, manager, as_user):
    d = disputed_queue(app)
    client = as_user(manager)

    first = put(client, url(d, d.correction), {"pick": 1, "note": "The answer was right."})
    assert first.status_code == 200, first.json()
    assert first.json()["status"] == "settled"
    assert {
        k: first.json()["adjudication"][k] for k in ("rating", "chosen", "note", "adjudicator", "revision")
    } == {
        "rating": "positive",
        "chosen": d.first.email,
        "note": "The answer was right.",
        "adjudicator": manager.email,
        "revision": 1,
    }
    second = put(
        client,
        url(d, d.correction),
        {"rating": "positive", "corrected_response": "Rotate it in Settings.", "relevant": {"0": "relevant"}},
    )
    assert second.status_code == 200
    assert {
        k: second.json()["adjudication"][k] for k in ("corrected_response", "relevant", "chosen", "revision")
    } == {
        "corrected_response": "Rotate it in Settings.",
        "relevant": {"0": True},
        "chosen": None,
        "revision": 2,
    }
    settled = client.get(url(d), {"status": "settled"}).json()
    assert [r["request_id"] for r in settled["results"]] == [str(d.correction.request_id)]
    still_open = client.get(url(d), {"status": "open"}).json()
    assert [r["request_id"] for r in still_open["results"]] == [
        str(d.thumbs.request_id),
        str(d.passage.request_id),
    ]


def test_the_list_is_paged(app, manager, as_user):
    d = disputed_queue(app)
    client = as_user(manager)
    page = client.get(url(d), {"page_size": 2}).json()
    assert (page["count"], len(page["results"])) == (3, 2) and "page=2" in page["next"]
    last = client.get(url(d), {"page_size": 2, "page": 2}).json()
    assert [r["request_id"] for r in last["results"]] == [str(d.passage.request_id)] and last["next"] is None


def test_a_blind_queue_hides_the_names_in_the_api(app, manager, as_user):
    d = disputed_queue(app, blind=True)
    client = as_user(manager)
    put(client, url(d, d.thumbs), {"pick": 2})
    raw = client.get(url(d)).content.decode()
    assert d.first.email not in raw and d.second.email not in raw
    [thumbs] = [r for r in json.loads(raw)["results"] if r["request_id"] == str(d.thumbs.request_id)]
    assert [r["reviewer"] for r in thumbs["reviews"]] == ["Reviewer 1", "Reviewer 2"]
    assert thumbs["adjudication"]["chosen"] == "Reviewer 2"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "rating"),
        ({"rating": "meh"}, "rating"),
        ({"rating": 1}, "rating"),
        ({"pick": 9}, "pick"),
        ({"pick": 0}, "pick"),
        ({"pick": "1"}, "pick"),
        ({"pick": True}, "pick"),
        ({"pick": 1, "rating": "negative"}, "pick"),
        ({"rating": "positive", "relevant": {"5": "relevant"}}, "relevant"),
        ({"rating": "positive", "relevant": {"0": "maybe"}}, "relevant"),
        ({"rating": "positive", "relevant": ["0"]}, "relevant"),
        ({"rating": "positive", "corrected_response": 12}, "corrected_response"),
        ({"rating": "positive", "note": None}, "note"),
        ({"rating": "positive", "note": "x" * 20000}, "note"),
        ({"rating": "positive", "colour": "blue"}, "colour"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(app, manager, as_user, body, field):
    d = disputed_queue(app)
    response = put(as_user(manager), url(d, d.thumbs), body)
    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert not Adjudication.objects.exists()


def test_text_no_database_can_store_is_refused_before_the_view(app, manager, as_user):
    d = disputed_queue(app)
    client = as_user(manager)
    for raw in ('{"rating": "positive", "note": "a\\u0000b"}', '{"rating": "positive", "note": "a\\ud800b"}'):
        response = client.put(url(d, d.thumbs), raw, content_type="application/json")
        assert response.status_code == 400 and "note" in json.dumps(response.json())
    assert not Adjudication.objects.exists()


def test_bad_paging_is_a_400_naming_it(app, manager, as_user):
    d = disputed_queue(app)
    client = as_user(manager)
    assert list(client.get(url(d), {"page_size": 0}).json()) == ["page_size"]
    assert list(client.get(url(d), {"page": "x"}).json()) == ["page"]
    past_the_end = client.get(url(d), {"page": 7}).json()
    assert (past_the_end["count"], past_the_end["results"], past_the_end["next"]) == (3, [], None)
    assert list(client.get(url(d), {"status": "closed"}).json()) == ["status"]
