"""Marking gold from the request page, the queue page and the API; who may."""

from reviewapp.reliability.models import GoldItem
from tests import factories
from tests.queues.helpers import queue_of
from tests.reliability.helpers import relevance


def reviewed(app, by, rating="positive", **extra):
    request = factories.make_request(app, **extra)
    factories.make_assessment(request, by, rating, retrieval_assessments=relevance(True))
    return request


def test_a_manager_marks_and_unmarks_gold_from_the_request_page(app, manager, as_user):
    request = reviewed(app, manager)
    page = f"/apps/{app.slug}/requests/{request.request_id}/"
    client = as_user(manager)
    assert 'data-testid="mark-gold"' in client.get(page).content.decode()

    marked = client.post(f"/apps/{app.slug}/gold/", {"request_ids": str(request.request_id), "next": page})

    assert marked.status_code == 302 and marked["Location"] == page
    html = client.get(page).content.decode()
    assert 'data-testid="gold-key"' in html and "thumbs up · passage 1 relevant" in html
    unmarked = client.post(
        f"/apps/{app.slug}/gold/remove/", {"request_ids": str(request.request_id), "next": page}
    )
    assert unmarked.status_code == 302
    assert not GoldItem.objects.exists()


def test_a_request_without_feedback_is_refused_with_the_typed_ids_kept(app, manager, as_user):
    request = factories.make_request(app)
    typed = f"{request.request_id}\nnot-an-id"

    response = as_user(manager).post(
        f"/apps/{app.slug}/gold/", {"request_ids": typed, "next": "https://evil.example/"}
    )

    html = response.content.decode()
    assert response.status_code == 400
    assert 'data-testid="error-request_ids"' in html and "not a request id: not-an-id" in html
    assert typed in html  # what was typed comes back
    assert 'href="https://evil.example/"' not in html  # a foreign `next` is never offered nor followed
    response = as_user(manager).post(f"/apps/{app.slug}/gold/", {"request_ids": str(request.request_id)})
    assert "has no feedback yet" in response.content.decode() and response.status_code == 400
    assert not GoldItem.objects.exists()


def test_the_queue_page_marks_gold_and_comes_back(app, manager, as_user):
    request = reviewed(app, manager)
    queue = queue_of([factories.make_request(app)])
    page = f"/apps/{app.slug}/queues/{queue.pk}/"
    assert 'data-testid="gold-form"' in as_user(manager).get(page).content.decode()

    response = as_user(manager).post(
        f"/apps/{app.slug}/gold/", {"request_ids": f" {request.request_id}, ", "next": page}
    )

    assert response.status_code == 302 and response["Location"] == page
    assert GoldItem.objects.get().request_id == request.request_id


def test_only_managers_mark_gold(app, manager, querier, viewer, outsider, as_user):
    request = reviewed(app, manager)
    body = {"request_ids": str(request.request_id)}
    assert as_user(outsider).post(f"/apps/{app.slug}/gold/", body).status_code == 404
    assert as_user(querier).post(f"/apps/{app.slug}/gold/", body).status_code == 403
    assert as_user(viewer).post(f"/apps/{app.slug}/gold/", body).status_code == 403
    api = f"/api/v1/apps/{app.slug}/gold"
    json_body = {"request_ids": [str(request.request_id)]}
    assert as_user(outsider).post(api, json_body, content_type="application/json").status_code == 404
    assert as_user(querier).post(api, json_body, content_type="application/json").status_code == 403
    assert as_user(querier).get(api).status_code == 403
    assert as_user(querier).delete(f"{api}/{request.request_id}").status_code == 403
    assert not GoldItem.objects.exists()


def test_the_api_marks_lists_and_unmarks(app, manager, as_user):
    request = reviewed(app, manager, "negative")
    client = as_user(manager)
    api = f"/api/v1/apps/{app.slug}/gold"

    marked = client.post(api, {"request_ids": [str(request.request_id)]}, content_type="application/json")

    assert marked.status_code == 200
    (item,) = marked.json()
    assert {k: item[k] for k in ("request_id", "rating", "relevant", "source", "unsettled", "marked_by")} == {
        "request_id": str(request.request_id),
        "rating": "negative",
        "relevant": {"0": True},
        "source": "majority",
        "unsettled": [],
        "marked_by": manager.email,
    }
    assert [g["request_id"] for g in client.get(api).json()] == [str(request.request_id)]
    assert client.delete(f"{api}/{request.request_id}").status_code == 204
    assert client.delete(f"{api}/{request.request_id}").status_code == 404
    assert client.get(api).json() == []
    assert client.delete(f"{api}/not-a-uuid").json() == {"detail": "No such gold item"}


def test_the_api_says_what_is_wrong_with_a_body(app, manager, as_user):
    unreviewed = factories.make_request(app)
    other_app = reviewed(factories.make_app("other-app"), manager)
    client = as_user(manager)
    api = f"/api/v1/apps/{app.slug}/gold"

    def post(body):
        return client.post(api, body, content_type="application/json")

    no_feedback = post({"request_ids": [str(unreviewed.request_id)]})
    assert no_feedback.status_code == 400
    assert no_feedback.json()["request_ids"] == [
        f"{unreviewed.request_id} has no feedback yet: a gold item needs a known answer to measure reviewers against"
    ]
    foreign = post({"request_ids": [str(other_app.request_id)]})
    assert foreign.status_code == 400 and "no such request in this app" in foreign.json()["request_ids"][0]
    assert post({"request_ids": []}).status_code == 400
    assert post({"request_ids": [1]}).status_code == 400
    assert post({"request_ids": ["x"], "extra": 1}).json()["extra"] == ["unknown field; allowed: request_ids"]
    assert post({"request_ids": ["a" * 101]}).status_code == 400
    assert not GoldItem.objects.exists()
