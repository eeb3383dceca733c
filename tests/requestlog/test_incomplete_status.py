"""Incomplete turns (the answer stopped part-way) and altered text in the request log, its detail page
and the dashboard."""

import re
from html import unescape

from tests import factories

LOG = "/apps/support-bot/requests/"
CUT = "The chain's stream broke off before the answer was finished: connection closed"


def page(client, url: str, params: dict | None = None) -> str:
    """The page's HTML, once it is known to be the page: a "not in" check passes on an error page too."""
    response = client.get(url, params or {})
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def partial(app, **extra):
    return factories.make_request(
        app, status="incomplete", error=CUT, response="Open Settings, then", **extra
    )


def test_the_log_shows_an_incomplete_badge_and_the_partial_answer(as_user, manager, app):
    partial(app)

    html = page(as_user(manager), LOG)

    assert 'data-testid="incomplete">incomplete</span> Open Settings, then' in html


def test_the_log_filters_by_status(as_user, manager, app):
    ok = factories.make_request(app, question="fine")
    cut = partial(app, question="cut")
    failed = factories.make_request(app, question="failed", status="error", error="HTTP 503", response="")
    client = as_user(manager)

    for status, expected in (("incomplete", cut), ("error", failed), ("ok", ok)):
        html = page(client, LOG, {"status": status})
        shown = {row for row in (ok, cut, failed) if f'data-request-id="{row.request_id}"' in html}
        assert shown == {expected}, status

    api = client.get("/api/v1/apps/support-bot/request-logs?status=incomplete").json()
    assert [row["request_id"] for row in api["results"]] == [str(cut.request_id)]


def test_an_unknown_status_filter_is_a_400_naming_it(as_user, manager, app):
    response = as_user(manager).get(LOG, {"status": "half"})

    assert response.status_code == 400
    assert "status: Select a valid choice" in response.content.decode()


def test_the_detail_page_shows_the_status_the_reason_and_the_altered_notice(as_user, manager, app):
    req = partial(app, text_altered=True)

    html = page(as_user(manager), f"{LOG}{req.request_id}/")

    assert 'class="badge badge-incomplete">incomplete</span>' in html
    assert "The answer stopped before it was finished: " + CUT.replace("'", "&#x27;") in html
    assert 'data-testid="text-altered"' in html
    assert "Open Settings, then" in html


def test_a_plain_turn_has_no_altered_notice(as_user, manager, app):
    req = factories.make_request(app)

    html = page(as_user(manager), f"{LOG}{req.request_id}/")

    assert 'data-testid="text-altered"' not in html and 'data-testid="incomplete-notice"' not in html


def test_the_dashboard_counts_errors_and_incomplete_turns_per_version(app, as_user, manager):
    factories.make_request(app, app_version="1")
    partial(app, app_version="1")
    partial(app, app_version="1")
    factories.make_request(app, app_version="2", status="error", error="boom", response="")

    response = as_user(manager).get("/apps/support-bot/dashboard/")

    totals = {v.version: v.total for v in response.context["quality"].versions}
    assert (totals["1"].requests, totals["1"].errors.hits, totals["1"].incomplete.hits) == (3, 0, 2)
    assert (totals["2"].requests, totals["2"].errors.hits, totals["2"].incomplete.hits) == (1, 1, 0)
    html = response.content.decode()
    row = re.search(r'data-testid="figure-incomplete">(.*?)</tr>', html, re.S).group(1)
    # Version 2 first, then 1: each count links to the log showing exactly those turns.
    two, one = (
        unescape(href) for href in re.findall(r'<a href="([^"]+)" class="count" data-rows="\d+">', row)[::2]
    )
    assert "app_version=2" in two and "status=incomplete" in two
    assert "app_version=1" in one and "status=incomplete" in one
    log = as_user(manager).get(one)
    assert [row.status for row, _ in log.context["rows"]] == ["incomplete", "incomplete"]
