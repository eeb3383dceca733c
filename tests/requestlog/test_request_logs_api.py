from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from tests import factories

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def url(app):
    return reverse("api-request-logs", args=[app.slug])


def test_it_walks_the_log_with_next_links_and_back_with_previous_links(app, manager, as_user):
    rows = [factories.make_request(app, created_at=T0 + timedelta(seconds=i)) for i in range(5)]
    newest_first = [str(r.request_id) for r in reversed(rows)]
    client = as_user(manager)
    seen, link, pages = [], f"{url(app)}?page_size=2", []
    while link:
        body = client.get(link).json()
        pages.append(body)
        seen += [r["request_id"] for r in body["results"]]
        link = body["next"]
    assert seen == newest_first
    assert [len(p["results"]) for p in pages] == [2, 2, 1]
    assert "page_size=2" in pages[1]["next"]
    back = client.get(pages[2]["previous"]).json()
    assert [r["request_id"] for r in back["results"]] == newest_first[2:4]


def test_it_filters_by_time_source_version_and_rating(app, manager, querier, as_user):
    old = factories.make_request(app, created_at=T0, app_version="1", source="rest_api")
    new = factories.make_request(app, created_at=T0 + timedelta(days=1), app_version="2", source="import")
    factories.make_assessment(old, querier, "negative")
    client = as_user(manager)

    def ids(**params):
        return [r["request_id"] for r in client.get(url(app), params).json()["results"]]

    assert ids(since=(T0 + timedelta(hours=1)).isoformat()) == [str(new.pk)]
    assert ids(until=(T0 + timedelta(hours=1)).isoformat()) == [str(old.pk)]
    assert ids(source="import") == [str(new.pk)]
    assert ids(app_version="1") == [str(old.pk)]
    assert ids(rating="negative") == [str(old.pk)]
    assert ids(rating="positive") == []


def test_a_row_carries_the_logged_fields(app, manager, as_user):
    turn = factories.make_request(app, user=manager, latency_ms=42, total_tokens=9)
    [row] = as_user(manager).get(url(app)).json()["results"]
    assert row["request_id"] == str(turn.request_id)
    assert row["user"] == manager.email
    assert row["messages"] == turn.messages
    assert (row["latency_ms"], row["total_tokens"], row["source"]) == (42, 9, "review_app")


@pytest.mark.parametrize(
    "params, field",
    [
        ({"after": "%%%"}, "after"),
        ({"page_size": 1000}, "page_size"),
        ({"source": "x"}, "source"),
        ({"after": "", "before": "abc"}, "before"),
    ],
)
def test_bad_parameters_are_a_400_naming_them(app, manager, as_user, params, field):
    response = as_user(manager).get(url(app), params)
    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.parametrize("persona, status", [("outsider", 404), ("viewer", 403), ("querier", 403)])
def test_only_managers_read_the_log(app, persona, status, as_user, request):
    assert as_user(request.getfixturevalue(persona)).get(url(app)).status_code == status


def test_anonymous_callers_are_turned_away(app):
    from rest_framework.test import APIClient

    assert APIClient().get(url(app)).status_code in (401, 403)


def test_the_endpoints_are_in_the_openapi_schema(app, manager, as_user):
    schema = as_user(manager).get(reverse("api-schema"), {"format": "json"}).json()
    log = schema["paths"]["/api/v1/apps/{slug}/request-logs"]["get"]
    assert {"since", "until", "source", "app_version", "rating", "after", "before"} <= {
        p["name"] for p in log["parameters"]
    }
    assert "202" in schema["paths"]["/api/v1/apps/{slug}/traces:import"]["post"]["responses"]
