"""Who may adjudicate a queue, on the pages and over the API alike, with exact statuses."""

import json

import pytest

from reviewapp.adjudication.models import Adjudication
from reviewapp.catalog.models import Level
from reviewapp.queues import services as queue_services
from tests import factories
from tests.adjudication.helpers import disputed_queue

PERSONAS = {
    "anonymous": (302, 401),
    "outsider": (404, 404),
    "viewer_named": (403, 403),  # named, but without CAN_QUERY
    "reviewer": (403, 403),  # a reviewer of the queue, not an adjudicator
    "other_queue_adjudicator": (403, 403),
    "named_adjudicator": (200, 200),
    "manager": (200, 200),
}


@pytest.fixture
def setting(app, manager, outsider):
    d = disputed_queue(app)
    expert = factories.make_user("expert@example.com")
    factories.grant(app, expert, Level.CAN_QUERY)
    d.queue.adjudicators.add(expert)
    viewer = factories.make_user("viewer-named@example.com")
    factories.grant(app, viewer, Level.CAN_VIEW)
    d.queue.adjudicators.add(viewer)
    other_queue, _ = queue_services.create_queue(app=app, name="Other", created_by=manager)
    elsewhere = factories.make_user("elsewhere@example.com")
    factories.grant(app, elsewhere, Level.CAN_QUERY)
    other_queue.adjudicators.add(elsewhere)
    users = {
        "anonymous": None,
        "outsider": outsider,
        "viewer_named": viewer,
        "reviewer": d.first,
        "other_queue_adjudicator": elsewhere,
        "named_adjudicator": expert,
        "manager": manager,
    }
    return d, users


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_route_answers_each_persona_exactly(setting, as_user, persona):
    d, users = setting
    page, api = PERSONAS[persona]
    client = as_user(users[persona])
    base = f"/apps/support-bot/queues/{d.queue.pk}/adjudication/"
    api_base = f"/api/v1/apps/support-bot/review-queues/{d.queue.pk}/adjudications"
    case = f"{base}{d.thumbs.request_id}/"
    api_case = f"{api_base}/{d.thumbs.request_id}"

    assert client.get(base).status_code == page
    assert client.get(case).status_code == page
    posted = client.post(case, {"choice": "1", "note": "first"})
    assert posted.status_code == (302 if page == 200 else page)
    assert client.get(api_base).status_code == api
    assert client.get(api_case).status_code == api
    put = client.put(api_case, json.dumps({"pick": 2}), content_type="application/json")
    assert put.status_code == api
    assert Adjudication.objects.exists() == (api == 200)


def test_a_named_adjudicator_of_one_queue_gets_403_on_another_queue_of_the_same_app(
    setting, as_user, manager
):
    d, users = setting
    other = disputed_queue(d.queue.app, name="Second")
    client = as_user(users["named_adjudicator"])
    assert client.get(f"/apps/support-bot/queues/{other.queue.pk}/adjudication/").status_code == 403
    url = f"/api/v1/apps/support-bot/review-queues/{other.queue.pk}/adjudications"
    assert client.get(url).status_code == 403


def test_a_manager_of_another_app_gets_404(setting, as_user):
    d, _ = setting
    other_app = factories.make_app("other-bot")
    boss = factories.make_user("boss@example.com")
    factories.grant(other_app, boss, Level.CAN_MANAGE)
    client = as_user(boss)
    assert client.get(f"/apps/support-bot/queues/{d.queue.pk}/adjudication/").status_code == 404
    # The queue under the other app's slug is not found either: a queue belongs to one app.
    assert client.get(f"/apps/other-bot/queues/{d.queue.pk}/adjudication/").status_code == 404
    assert client.get(f"/api/v1/apps/other-bot/review-queues/{d.queue.pk}/adjudications").status_code == 404


def test_an_item_nobody_disputes_and_a_request_outside_the_queue_are_404(setting, as_user, manager, app):
    d, _ = setting
    client = as_user(manager)
    stranger = factories.make_request(app, question="Not in the queue")
    for request in (d.agreed, stranger):
        assert (
            client.get(
                f"/apps/support-bot/queues/{d.queue.pk}/adjudication/{request.request_id}/"
            ).status_code
            == 404
        )
        url = f"/api/v1/apps/support-bot/review-queues/{d.queue.pk}/adjudications/{request.request_id}"
        response = client.put(url, json.dumps({"pick": 1}), content_type="application/json")
        assert response.status_code == 404 and "detail" in response.json()
