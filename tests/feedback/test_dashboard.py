import pytest

from reviewapp.feedback.dashboard import quality_by_version
from tests import factories
from tests.feedback.helpers import feedback

URL = "/apps/support-bot/dashboard/"


@pytest.fixture
def reviewed(app, querier, manager):
    """Version 1: three requests, two reviewed; version 2: one request, reviewed twice."""
    a, b, _ = (factories.make_request(app, user=querier, app_version="1") for _ in range(3))
    c = factories.make_request(app, user=querier, app_version="2")
    feedback(a, querier, rating="positive")
    # Changed mind: only the latest counts.
    feedback(a, querier, rating="negative", reasons=["inaccurate"])
    feedback(
        b,
        querier,
        rating="negative",
        reasons=["inaccurate", "incomplete"],
        corrected_response="Better",
        retrieval_assessments=[
            {"position": 0, "rating": "relevant"},
            {"position": 1, "rating": "not_relevant"},
        ],
    )
    feedback(b, manager, rating="positive")
    feedback(c, querier, rating="positive")
    feedback(c, manager, retrieval_assessments=[{"position": 0, "rating": "relevant"}])


def test_quality_is_counted_per_version_from_the_effective_feedback(app, reviewed):
    rows = {row.version: row for row in quality_by_version(app)}
    one, two = rows["1"], rows["2"]
    assert [r.version for r in quality_by_version(app)] == ["2", "1"]
    assert (one.requests, one.reviewed, one.assessments) == (3, 2, 3)
    assert (one.positive, one.negative, one.positive_pct) == (1, 2, 33.3)
    assert one.top_reasons == [("inaccurate", 2), ("incomplete", 1)]
    assert (one.corrections, one.chunks_rated, one.chunk_relevance_pct) == (1, 2, 50.0)
    assert (two.requests, two.reviewed, two.positive_pct, two.chunk_relevance_pct) == (1, 1, 100.0, 100.0)


def test_the_dashboard_page_shows_the_figures_with_links_to_the_request_log(as_user, manager, reviewed):
    html = as_user(manager).get(URL).content.decode()
    assert 'data-version="1"' in html and "33.3%" in html and "inaccurate (2)" in html
    assert 'href="/apps/support-bot/requests/?app_version=1"' in html
    assert 'href="/apps/support-bot/requests/?app_version=1&amp;rating=negative">2 negative</a>' in html
    # The request log understands those filters.
    log = as_user(manager).get("/apps/support-bot/requests/", {"version": "1", "rating": "negative"})
    assert log.status_code == 200


def test_a_version_without_feedback_shows_dashes(as_user, manager, app):
    factories.make_request(app)
    html = as_user(manager).get(URL).content.decode()
    assert 'data-testid="positive">—' in html


def test_only_managers_see_the_dashboard(as_user, querier, outsider, app):
    assert as_user(querier).get(URL).status_code == 403
    assert as_user(outsider).get(URL).status_code == 404
