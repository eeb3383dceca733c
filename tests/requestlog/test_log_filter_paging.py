"""A filter that needs a feedback summary pages by the summary's copy of the request's time (so the
database walks the few summaries in order, not every request): its pages, walked forward and back,
with or without a time range, hold exactly the matching rows, newest first, ties in time broken by
request_id as in the unfiltered log."""

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from reviewapp.feedback.services import record_feedback
from reviewapp.requestlog import browse
from reviewapp.requestlog.models import Request
from tests import factories

T0 = datetime(2026, 3, 1, tzinfo=UTC)
RANGE = {"since": "2026-03-01T00:01", "until": "2026-03-01T00:05"}


@pytest.fixture
def log(app, querier, manager) -> list[Request]:
    """Twelve requests, two to a minute (the pair shares its time). The querier rates every third
    one down ("inaccurate"; 0 and 3 "incomplete" too) and the one after it up; number 5 has only the
    manager's note."""
    made = [factories.make_request(app, created_at=T0 + timedelta(minutes=n // 2)) for n in range(12)]
    for n, request in enumerate(made):
        if n % 3 == 0:
            # The first two also give a second reason: one row per request still.
            changes = {
                "rating": "negative",
                "reasons": ["inaccurate", "incomplete"] if n < 6 else ["inaccurate"],
            }
        elif n % 3 == 1:
            changes = {"rating": "positive"}
        else:
            continue
        record_feedback(request=request, reviewer=querier, changes=changes)
    record_feedback(request=made[5], reviewer=manager, changes={"comment": "Check the dates."})
    return made


def newest_first(requests) -> list[str]:
    return [str(r.pk) for r in sorted(requests, key=lambda r: (r.created_at, r.pk), reverse=True)]


def in_range(n: int) -> bool:
    return 1 <= n // 2 < 5  # since 00:01 (included), until 00:05 (left out)


CASES = [
    ({"rating": "negative"}, lambda n: n % 3 == 0),
    ({"rating": "positive"}, lambda n: n % 3 == 1),
    ({"feedback": "yes"}, lambda n: n % 3 != 2 or n == 5),
    ({"feedback": "no"}, lambda n: n % 3 == 2 and n != 5),
    ({"verdict": "rated"}, lambda n: n % 3 != 2),
    ({"verdict": "unrated"}, lambda n: n % 3 == 2),
    ({"reason": "inaccurate"}, lambda n: n % 3 == 0),
    ({"reviewer": "QUERIER@example.com"}, lambda n: n % 3 != 2),
    ({"reviewer": "manager@example.com"}, lambda n: n == 5),
    ({"reviewer": "nobody@example.com"}, lambda n: False),
    ({"rating": "negative", **RANGE}, lambda n: n % 3 == 0 and in_range(n)),
    ({"feedback": "yes", **RANGE}, lambda n: (n % 3 != 2 or n == 5) and in_range(n)),
    ({"reviewer": "querier@example.com", "since": RANGE["since"]}, lambda n: n % 3 != 2 and n // 2 >= 1),
    ({"reason": "inaccurate", **RANGE}, lambda n: n % 3 == 0 and in_range(n)),
    ({"reason": "incomplete"}, lambda n: n in (0, 3)),
    ({"reason": "nothing like it"}, lambda n: False),
]


def walk(app, params: dict, size: int = 2) -> tuple[list[str], list[str]]:
    """Every page, by `after` from the first to the last, then by `before` from the last back up:
    the rows in the order each walk showed them (newest first)."""
    log = browse.RequestLogFilter(params, queryset=Request.objects.for_app(app))
    assert log.is_valid(), log.errors
    forward, pages, cursor = [], [], None
    while True:
        page = browse.page_of(log.qs, older_than=cursor, size=size)
        assert len(page.rows) <= size
        forward += [str(r.pk) for r in page.rows]
        pages.append(page)
        if page.next_cursor is None:
            break
        cursor = browse.Cursor.decode(page.next_cursor)
    backward = [str(r.pk) for r in pages[-1].rows]
    previous = pages[-1].previous_cursor
    while previous is not None:
        page = browse.page_of(log.qs, newer_than=browse.Cursor.decode(previous), size=size)
        backward = [str(r.pk) for r in page.rows] + backward
        previous = page.previous_cursor
    return forward, backward


@pytest.mark.parametrize(("params", "matches"), CASES, ids=[urlencode(p) for p, _ in CASES])
def test_walking_the_pages_forward_and_back_shows_each_matching_row_once_in_order(app, log, params, matches):
    expected = newest_first(r for n, r in enumerate(log) if matches(n))

    forward, backward = walk(app, params)

    assert forward == expected
    if len(expected) > 2:  # more than one page: the walk back came up through all of them
        assert backward == expected


def test_the_page_and_the_api_agree_page_by_page(app, manager, as_user, log):
    client = as_user(manager)
    params = {"feedback": "yes", "page_size": 3}
    url = reverse("requestlog", args=[app.slug])

    first = client.get(f"{url}?{urlencode(params)}")
    api = client.get(reverse("api-request-logs", args=[app.slug]), params).json()

    expected = newest_first(r for n, r in enumerate(log) if n % 3 != 2 or n == 5)
    assert [str(row.pk) for row, _ in first.context["rows"]] == expected[:3]
    assert [row["request_id"] for row in api["results"]] == expected[:3]
    second = client.get(f"{url}?{urlencode({**params, 'after': first.context['page'].next_cursor})}")
    assert [str(row.pk) for row, _ in second.context["rows"]] == expected[3:6]


def test_a_summary_filter_pages_by_the_summarys_time_and_the_others_by_the_requests(
    app, manager, as_user, log
):
    client = as_user(manager)
    url = reverse("requestlog", args=[app.slug])

    def page_sql(params) -> str:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"{url}?{urlencode(params)}").status_code == 200
        (sql,) = [
            q["sql"] for q in queries if 'FROM "requestlog_request"' in q["sql"] and "LIMIT 51" in q["sql"]
        ]
        return sql

    by_summary = 'ORDER BY "feedback_requestfeedback"."request_created_at" DESC'
    for params in ({"rating": "negative"}, {"corrected": "no"}, {"retrieval": "hit"}):
        assert by_summary in page_sql(params), params
    # A reason pages by its own row's copy of the time, read through one join.
    sql = page_sql({"reason": "inaccurate", **RANGE})
    assert 'ORDER BY "feedback_feedbackreason"."request_created_at" DESC' in sql
    assert sql.count('JOIN "feedback_feedbackreason"') == 1
    for params in ({}, {"feedback": "no"}, {"verdict": "unrated"}, {"source": "import"}):
        assert 'ORDER BY "requestlog_request"."created_at" DESC' in page_sql(params), params
