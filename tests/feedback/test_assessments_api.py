from datetime import timedelta

import pytest
from django.utils import timezone

from reviewapp.feedback.services import record_feedback
from reviewapp.requestlog.models import Request
from tests import factories

URL = "/api/v1/apps/support-bot/assessments"


@pytest.fixture
def log(app, querier, manager):
    """Three requests: v1 from the review app, v2 from the REST API; feedback by two reviewers."""
    v1 = factories.make_request(app, user=querier, app_version="1")
    v2 = factories.make_request(app, user=querier, app_version="2", source=Request.Source.REST_API)
    v2b = factories.make_request(app, user=querier, app_version="2")
    rows = {
        "q_v1": record_feedback(request=v1, reviewer=querier, changes={"rating": "negative"}).assessment,
        "m_v1": record_feedback(request=v1, reviewer=manager, changes={"rating": "positive"}).assessment,
        "q_v2": record_feedback(request=v2, reviewer=querier, changes={"rating": "positive"}).assessment,
        "q_v2b": record_feedback(
            request=v2b, reviewer=querier, changes={"comment": "no rating yet"}
        ).assessment,
        "q_v1_again": record_feedback(
            request=v1, reviewer=querier, changes={"rating": "positive"}
        ).assessment,
    }
    return rows


def ids(response):
    assert response.status_code == 200, response.json()
    return [item["assessment_id"] for item in response.json()["results"]]


def test_it_lists_newest_first_with_the_effective_flag(as_user, manager, log):
    items = as_user(manager).get(URL).json()["results"]
    assert [i["assessment_id"] for i in items] == [
        str(log[k].assessment_id) for k in ("q_v1_again", "q_v2b", "q_v2", "m_v1", "q_v1")
    ]
    assert [i["effective"] for i in items] == [True, True, True, True, False]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?rating=positive", ["q_v1_again", "q_v2", "m_v1"]),
        ("?rating=negative", ["q_v1"]),
        ("?rating=none", ["q_v2b"]),
        ("?app_version=2", ["q_v2b", "q_v2"]),
        ("?source=rest_api", ["q_v2"]),
        ("?reviewer=MANAGER@example.com", ["m_v1"]),
        ("?effective=true&app_version=1", ["q_v1_again", "m_v1"]),
        ("?effective=false", ["q_v1"]),
    ],
)
def test_it_filters(as_user, manager, log, query, expected):
    assert ids(as_user(manager).get(URL + query)) == [str(log[k].assessment_id) for k in expected]


def test_it_filters_by_time(as_user, manager, log):
    from reviewapp.feedback.models import Assessment

    old = timezone.now() - timedelta(days=3)
    Assessment.objects.filter(pk=log["q_v1"].pk).update(created_at=old)
    since = (old + timedelta(days=1)).isoformat()
    until = (old + timedelta(hours=1)).isoformat()
    client = as_user(manager)
    assert str(log["q_v1"].assessment_id) not in ids(client.get(URL, {"since": since}))
    assert ids(client.get(URL, {"until": until})) == [str(log["q_v1"].assessment_id)]


def test_it_pages_with_a_cursor_without_losing_or_repeating_a_row(as_user, manager, log):
    client = as_user(manager)
    seen, url = [], URL + "?page_size=2"
    while url:
        page = client.get(url).json()
        seen += [item["assessment_id"] for item in page["results"]]
        url = page["next"]
    assert sorted(seen) == sorted(str(row.assessment_id) for row in log.values())
    assert len(seen) == len(set(seen)) == 5


@pytest.mark.parametrize(
    ("query", "field"),
    [("?rating=great", "rating"), ("?since=yesterday", "since"), ("?source=email", "source")],
)
def test_a_bad_filter_is_a_400_naming_it(as_user, manager, log, query, field):
    response = as_user(manager).get(URL + query)
    assert response.status_code == 400 and field in response.json()


def test_only_managers_see_the_log(as_user, querier, viewer, outsider, log):
    assert as_user(querier).get(URL).status_code == 403
    assert as_user(viewer).get(URL).status_code == 403
    assert as_user(outsider).get(URL).status_code == 404
