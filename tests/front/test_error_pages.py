"""Error pages say in plain words what happened and what to do, never the exception behind them."""

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse

from reviewapp.front import api_errors

DEVELOPER_WORDS = ["Resolver404", "Http404", "PermissionDenied", "Traceback", "exception", "tried", "CAN_"]


def readable(body: str) -> None:
    for word in DEVELOPER_WORDS:
        assert word not in body, word


@pytest.mark.parametrize("path", ["/no/such/page/", "/apps/no-such-app/", "/apps/support-bot/requests/nope/"])
def test_a_missing_page_or_app_is_a_plain_404_that_names_the_path(app, querier, as_user, path, settings):
    assert settings.DEBUG is False
    response = as_user(querier).get(path, HTTP_REFERER="http://testserver/apps/")
    body = response.content.decode()
    assert response.status_code == 404
    assert "Page not found" in body
    assert f"<code>{path}</code>" in body
    assert 'href="http://testserver/apps/">Go back</a>' in body
    readable(body)


def test_a_404_for_someone_signed_out_is_the_same_page(db, as_user):
    response = as_user(None).get("/no/such/page/?secret=1")
    body = response.content.decode()
    assert response.status_code == 404
    assert "<code>/no/such/page/</code>" in body and "secret" not in body
    readable(body)


def test_no_back_link_to_another_site(app, querier, as_user):
    body = as_user(querier).get("/nope/", HTTP_REFERER="https://evil.example.com/").content.decode()
    assert "evil.example.com" not in body and "Go back" not in body


def test_the_api_keeps_its_json_404(db, manager, as_user):
    response = as_user(manager).get("/api/v1/no-such-route")
    assert response.status_code == 404
    assert response.json() == {"detail": "No such API route."}


def test_a_403_says_what_is_needed_in_people_s_words(app, viewer, as_user):
    response = as_user(viewer).get(reverse("request-import", args=[app.slug]))
    body = response.content.decode()
    assert response.status_code == 403
    assert "Not allowed" in body
    assert "“Can manage”" in body and "“Can view”" in body
    assert "ask a manager of the app" in body
    readable(body)


def test_a_form_sent_without_its_csrf_token_says_to_send_it_again(app, manager):
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    response = client.post(reverse("token-list"), {"name": "laptop"})
    body = response.content.decode()
    assert response.status_code == 403
    assert "Please send that again" in body
    assert "CSRF" not in body
    readable(body)


def test_the_500_page_blames_no_one_and_shows_no_detail(db):
    request = RequestFactory().get("/apps/support-bot/")
    response = api_errors.server_error(request)
    body = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong on our side" in body
    assert "/static/css/pages.css" in body
    readable(body)
