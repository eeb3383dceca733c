from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from reviewapp.requestlog.browse import Cursor
from tests import factories

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def log_url(app, **params):
    from urllib.parse import urlencode

    url = reverse("requestlog", args=[app.slug])
    return f"{url}?{urlencode(params)}" if params else url


def make_rows(app, n, **extra):
    return [
        factories.make_request(app, created_at=T0 + timedelta(minutes=i), question=f"question {i}", **extra)
        for i in range(n)
    ]


def shown_ids(response) -> list[str]:
    return [str(row.request_id) for row, _ in response.context["rows"]]


def rate(request, reviewer, rating, when):
    return factories.make_assessment(request, reviewer, rating, created_at=when)


def test_it_shows_the_newest_requests_first_to_a_manager(app, manager, as_user):
    rows = make_rows(app, 3)
    response = as_user(manager).get(log_url(app))
    assert response.status_code == 200
    assert shown_ids(response) == [str(r.request_id) for r in reversed(rows)]
    assert "question 2" in response.content.decode()


@pytest.mark.parametrize("persona, status", [("outsider", 404), ("viewer", 403), ("querier", 403)])
def test_it_keeps_the_log_from_anyone_but_managers(app, persona, status, as_user, request):
    make_rows(app, 1)
    user = request.getfixturevalue(persona)
    assert as_user(user).get(log_url(app)).status_code == status


def test_it_sends_anonymous_visitors_to_sign_in(app, as_user):
    response = as_user(None).get(log_url(app))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_it_pages_with_cursors_forwards_and_back_without_gaps_or_repeats(app, manager, as_user):
    rows = make_rows(app, 7)
    # Two rows share a timestamp: the request_id breaks the tie.
    twin = factories.make_request(app, created_at=rows[3].created_at, question="twin")
    expected = [str(r.request_id) for r in sorted([*rows, twin], key=lambda r: (r.created_at, r.request_id))]
    expected.reverse()
    client = as_user(manager)
    seen, cursor, pages = [], None, []
    while True:
        params = {"page_size": 3, **({"after": cursor} if cursor else {})}
        response = client.get(log_url(app, **params))
        page = response.context["page"]
        pages.append(page)
        seen += shown_ids(response)
        cursor = page.next_cursor
        if not cursor:
            break
    assert seen == expected
    assert len(pages) == 3
    assert pages[0].previous_cursor is None
    back = client.get(log_url(app, page_size=3, before=pages[2].previous_cursor))
    assert shown_ids(back) == expected[3:6]
    first = client.get(log_url(app, page_size=3, before=back.context["page"].previous_cursor))
    assert shown_ids(first) == expected[0:3]
    assert first.context["page"].previous_cursor is None


def test_it_filters_by_time_source_and_version(app, manager, as_user):
    early = factories.make_request(app, created_at=T0, app_version="1")
    imported = factories.make_request(
        app, created_at=T0 + timedelta(hours=2), source="import", app_version="2"
    )
    late = factories.make_request(app, created_at=T0 + timedelta(hours=5), source="rest_api", app_version="2")
    client = as_user(manager)
    window = {"since": (T0 + timedelta(hours=1)).isoformat(), "until": (T0 + timedelta(hours=3)).isoformat()}
    assert shown_ids(client.get(log_url(app, **window))) == [str(imported.request_id)]
    assert shown_ids(client.get(log_url(app, source="rest_api"))) == [str(late.request_id)]
    assert shown_ids(client.get(log_url(app, app_version="1"))) == [str(early.request_id)]
    assert shown_ids(client.get(log_url(app, app_version="2", source="import"))) == [str(imported.request_id)]


def test_it_filters_by_feedback_and_by_the_effective_rating(app, manager, querier, as_user):
    none, changed, liked = make_rows(app, 3)
    # The querier first liked `changed`, then changed their mind: only the latest counts.
    rate(changed, querier, "positive", T0)
    rate(changed, querier, "negative", T0 + timedelta(minutes=5))
    rate(liked, querier, "positive", T0)
    client = as_user(manager)
    assert set(shown_ids(client.get(log_url(app, feedback="yes")))) == {str(changed.pk), str(liked.pk)}
    assert shown_ids(client.get(log_url(app, feedback="no"))) == [str(none.pk)]
    assert shown_ids(client.get(log_url(app, rating="negative"))) == [str(changed.pk)]
    assert shown_ids(client.get(log_url(app, rating="positive"))) == [str(liked.pk)]


def test_it_searches_request_and_response_text_ignoring_case(app, manager, as_user):
    asked = factories.make_request(app, question="Where is the 50% DISCOUNT code?", response="Nowhere.")
    answered = factories.make_request(app, question="Hello", response="Use the discount code SPRING.")
    factories.make_request(app, question="Unrelated", response="Nothing to see")
    client = as_user(manager)
    assert set(shown_ids(client.get(log_url(app, q="discount")))) == {str(asked.pk), str(answered.pk)}
    # LIKE wildcards in the search are taken literally.
    assert shown_ids(client.get(log_url(app, q="50%"))) == [str(asked.pk)]
    assert shown_ids(client.get(log_url(app, q="_"))) == []


def test_it_never_shows_another_apps_requests(app, manager, as_user):
    other = factories.make_app("other-bot")
    factories.make_request(other, question="secret of another app")
    mine = factories.make_request(app)
    response = as_user(manager).get(log_url(app))
    assert shown_ids(response) == [str(mine.pk)]
    assert "secret of another app" not in response.content.decode()


@pytest.mark.parametrize(
    "params, field",
    [
        ({"after": "not-a-cursor"}, "after"),
        ({"since": "yesterday"}, "since"),
        ({"source": "carrier-pigeon"}, "source"),
        ({"rating": "meh"}, "rating"),
        ({"since": "2026-01-02T00:00", "until": "2026-01-01T00:00"}, "until"),
    ],
)
def test_it_answers_bad_filters_with_400_naming_them(app, manager, as_user, params, field):
    response = as_user(manager).get(log_url(app, **params))
    assert response.status_code == 400
    assert field in response.context["errors"]


def test_an_htmx_request_gets_only_the_results_fragment(app, manager, as_user):
    make_rows(app, 2)
    response = as_user(manager).get(
        log_url(app, source="review_app"), headers={"HX-Request": "true", "HX-Target": "log-results"}
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="log-results"')
    assert "<html" not in body


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"source": "import", "app_version": "1"},
        {"feedback": "yes"},
        {"rating": "negative", "q": "question"},
    ],
)
def test_a_page_takes_a_small_fixed_number_of_queries(
    app, manager, querier, as_user, django_assert_max_num_queries, params
):
    rows = make_rows(app, 60, source="import")
    for row in rows[::3]:
        rate(row, querier, "negative", T0)
    client = as_user(manager)
    first = client.get(log_url(app, **params))
    cursor = first.context["page"].next_cursor
    with django_assert_max_num_queries(10):
        response = client.get(log_url(app, **params, **({"after": cursor} if cursor else {})))
    assert response.status_code == 200


def test_going_back_to_the_top_shows_a_full_first_page(app, manager, as_user):
    rows = make_rows(app, 6)
    client = as_user(manager)
    # A cursor on the second-newest row: only one row is newer than it.
    cursor = Cursor.of(rows[4]).encode()
    response = client.get(log_url(app, page_size=3, before=cursor))
    assert shown_ids(response) == [str(r.request_id) for r in reversed(rows[3:])]
    assert response.context["page"].previous_cursor is None


@pytest.mark.parametrize("params", [{}, {"rating": "negative"}, {"verdict": "positive"}])
def test_a_page_of_the_api_takes_a_small_fixed_number_of_queries(
    app, manager, querier, as_user, django_assert_max_num_queries, params
):
    # Every field the API answers is in the list's columns: no query per row.
    rows = make_rows(app, 60, source="import")
    for row in rows[::3]:
        rate(row, querier, "positive" if params.get("verdict") else "negative", T0)
    client = as_user(manager)
    with django_assert_max_num_queries(10):
        response = client.get(reverse("api-request-logs", args=[app.slug]), {**params, "page_size": 50})
    assert response.status_code == 200
    assert len(response.json()["results"]) == 20 if params else 50
