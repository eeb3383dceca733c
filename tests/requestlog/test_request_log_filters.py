"""The request log's one FilterSet (requestlog/browse.py): the page and the API read the same
parameters the same way, and a bad value is named, never a 500."""

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.urls import reverse

from tests import factories

T0 = datetime(2026, 2, 1, tzinfo=UTC)


@pytest.fixture
def rows(app):
    return {
        version: factories.make_request(app, app_version=version, created_at=T0 + timedelta(minutes=n))
        for n, version in enumerate(["1", "2", "2"])
    }


def page_ids(client, app, **params) -> list[str]:
    response = client.get(f"{reverse('requestlog', args=[app.slug])}?{urlencode(params)}")
    assert response.status_code == 200
    return [str(row.request_id) for row, _ in response.context["rows"]]


def api_ids(client, app, **params) -> list[str]:
    response = client.get(reverse("api-request-logs", args=[app.slug]), params)
    assert response.status_code == 200, response.content
    return [row["request_id"] for row in response.json()["results"]]


@pytest.mark.parametrize(
    "params",
    [{"app_version": "1"}, {"app_version": "2", "source": "review_app"}, {"feedback": "no"}, {"q": "rotate"}],
)
def test_the_page_and_the_api_select_the_same_rows(app, manager, as_user, rows, params):
    client = as_user(manager)
    assert page_ids(client, app, **params) == api_ids(client, app, **params)


def test_version_is_read_as_app_version_for_old_links_and_callers(app, manager, as_user, rows):
    client = as_user(manager)
    assert api_ids(client, app, version="1") == [str(rows["1"].pk)]
    page = client.get(f"{reverse('requestlog', args=[app.slug])}?version=1")
    # The page shows (and carries on) the filter under its one name.
    assert page.context["form"]["app_version"].value() == "1"
    assert "app_version=1" in page.context["filter_query"]


def test_an_empty_value_means_no_filter(app, manager, as_user, rows):
    client = as_user(manager)
    everything = api_ids(client, app)
    assert len(everything) == 3
    assert api_ids(client, app, app_version="", source="", rating="", feedback="", since="") == everything


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"app_version": "x" * 101}, "app_version"),
        ({"q": "x" * 201}, "q"),
        ({"feedback": "maybe"}, "feedback"),
        ({"since": "2026-01-02T00:00", "until": "2026-01-01T00:00"}, "until"),
        ({"after": "AAAA", "before": "AAAA"}, "after"),
    ],
)
def test_a_bad_value_is_a_400_naming_it_on_the_page_and_in_the_api(app, manager, as_user, params, field):
    client = as_user(manager)
    page = client.get(f"{reverse('requestlog', args=[app.slug])}?{urlencode(params)}")
    api = client.get(reverse("api-request-logs", args=[app.slug]), params)
    assert page.status_code == api.status_code == 400
    assert field in page.context["errors"] and field in api.json()
