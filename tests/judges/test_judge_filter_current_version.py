"""The request log's judge filter (judges.models.said_by) reads what the live judge's current version
said, looked up first by name: an older version, a deleted judge of that name and another app's
judge of that name count for nothing, and a name no live judge has selects nothing (no error)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from reviewapp.judges.models import Judge, JudgeResult, JudgeVersion, current_versions
from reviewapp.requestlog import browse
from reviewapp.requestlog.models import Request
from tests import factories

T0 = datetime(2026, 4, 1, tzinfo=UTC)


def make_judge(app, name: str, versions: int = 2, deleted: bool = False) -> list[JudgeVersion]:
    judge = Judge.objects.create(
        app=app, name=name, kind=Judge.Kind.GROUNDEDNESS, deleted_at=timezone.now() if deleted else None
    )
    return [
        JudgeVersion.objects.create(judge=judge, number=n, metric="groundedness", threshold=0.5)
        for n in range(1, versions + 1)
    ]


def said(version: JudgeVersion, request: Request, value: str) -> None:
    JudgeResult.objects.create(version=version, request=request, app_id=request.app_id, value=value)


@pytest.fixture
def judged(app):
    """Eight requests of the app, one a minute. The live judge "grounded" (v2 current) said pass of
    0 and 1, fail of 2 and 3, error of 4; its v1 said fail of 5; a deleted "grounded" said fail of
    6; another app's live "grounded" said fail of that app's request."""
    rows = [factories.make_request(app, created_at=T0 + timedelta(minutes=n)) for n in range(8)]
    _, current = make_judge(app, "grounded")
    old = current.judge.versions.get(number=1)
    for n, value in ((0, "pass"), (1, "pass"), (2, "fail"), (3, "fail"), (4, "error")):
        said(current, rows[n], value)
    said(old, rows[5], "fail")
    # A deleted judge of the same name: gone, its results stay.
    (gone,) = make_judge(app, "grounded", versions=1, deleted=True)
    said(gone, rows[6], "fail")
    other = factories.make_app("other-bot")
    (theirs,) = make_judge(other, "grounded", versions=1)
    said(theirs, factories.make_request(other, created_at=T0), "fail")
    return rows


def selected(app, params: dict) -> list[Request]:
    log = browse.RequestLogFilter(params, queryset=Request.objects.for_app(app))
    assert log.is_valid(), log.errors
    return browse.page_of(log.qs, size=50).rows


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"judge": "grounded"}, [4, 3, 2, 1, 0]),
        ({"judge": "grounded", "judge_said": "pass"}, [1, 0]),
        ({"judge": "grounded", "judge_said": "fail"}, [3, 2]),
        ({"judge": "grounded", "judge_said": "error"}, [4]),
        ({"judge": "no-such-judge"}, []),
        ({"judge": "no-such-judge", "judge_said": "fail"}, []),
    ],
)
def test_the_judge_filter_selects_what_the_current_version_said(app, judged, params, expected):
    assert selected(app, params) == [judged[n] for n in expected]


def test_a_new_version_replaces_what_the_filter_reads(app, judged):
    judge = Judge.objects.get(app=app, name="grounded", deleted_at__isnull=True)
    newest = JudgeVersion.objects.create(judge=judge, number=3, metric="groundedness", threshold=0.9)
    said(newest, judged[7], "fail")

    assert selected(app, {"judge": "grounded", "judge_said": "fail"}) == [judged[7]]
    assert selected(app, {"judge": "grounded"}) == [judged[7]]


def test_the_current_versions_are_one_per_app_with_a_live_judge_of_that_name(app, judged):
    ours = Judge.objects.get(app=app, name="grounded", deleted_at__isnull=True)
    theirs = Judge.objects.get(app__slug="other-bot", name="grounded")

    assert sorted(current_versions("grounded")) == sorted(
        [ours.versions.get(number=2).pk, theirs.versions.get().pk]
    )
    assert current_versions("no-such-judge") == []


def test_a_deep_page_by_cursor_holds_the_rest_of_the_matching_rows(app, judged):
    log = browse.RequestLogFilter({"judge": "grounded"}, queryset=Request.objects.for_app(app))
    assert log.is_valid(), log.errors
    first = browse.page_of(log.qs, size=2)
    second = browse.page_of(log.qs, older_than=browse.Cursor.decode(first.next_cursor), size=2)
    third = browse.page_of(log.qs, older_than=browse.Cursor.decode(second.next_cursor), size=2)

    assert [first.rows, second.rows, third.rows] == [judged[4:2:-1], judged[2:0:-1], [judged[0]]]
    assert third.next_cursor is None


def test_a_result_copies_its_requests_time_however_it_is_written(app, judged):
    version = JudgeVersion.objects.get(
        judge__app=app, judge__name="grounded", judge__deleted_at__isnull=True, number=2
    )
    later = factories.make_request(app, created_at=T0 + timedelta(days=3))
    JudgeResult.objects.bulk_create(
        [JudgeResult(version=version, request_id=later.pk, app_id=app.pk, value="pass")],
        ignore_conflicts=True,
    )

    saved = JudgeResult(version=version, request=judged[7], app_id=app.pk, value="fail")
    saved.save()
    saved.rationale = "saved again, its time never read back"
    saved.save()

    times = dict(JudgeResult.objects.values_list("request_id", "request_created_at"))
    assert times[judged[7].pk] == judged[7].created_at
    assert times[later.pk] == later.created_at
    assert times[judged[4].pk] == judged[4].created_at  # written by create()


def test_the_judge_filter_pages_by_the_results_copy_of_the_time(app, judged, manager, as_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = as_user(manager)
    params = {"judge": "grounded", "judge_said": "fail", "since": "2026-04-01T00:01"}
    with CaptureQueriesContext(connection) as queries:
        page = client.get(f"/apps/{app.slug}/requests/", params)
    assert page.status_code == 200
    assert [row.pk for row, _ in page.context["rows"]] == [judged[3].pk, judged[2].pk]
    (sql,) = [q["sql"] for q in queries if "LIMIT 51" in q["sql"] and 'FROM "requestlog_request"' in q["sql"]]
    assert 'ORDER BY "judges_judgeresult"."request_created_at" DESC' in sql
    assert sql.count('JOIN "judges_judgeresult"') == 1
