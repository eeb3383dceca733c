"""The request log's filters by feedback and retrieval read each request's summary (RequestFeedback,
FeedbackReason) and the documents it retrieved (RetrievedDocument): each selects exactly its rows,
on the page, in the API and in "add all matching to a queue", and never another app's."""

import datetime as dt
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from reviewapp.catalog.models import Level
from reviewapp.feedback.services import record_feedback
from reviewapp.queues.models import ReviewQueue
from tests import factories

T0 = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
BASELINE = {"novel_since": "2026-05-01T00:00:00Z", "novel_until": "2026-05-02T00:00:00Z"}


def chunks(*letters) -> list[dict]:
    return [
        {"position": p, "doc_uri": f"docs://{letter}", "content": f"About {letter}."}
        for p, letter in enumerate(letters)
    ]


def feedback(request, reviewer, **changes) -> None:
    record_feedback(request=request, reviewer=reviewer, changes=changes)


@pytest.fixture
def rows(app, querier, manager):
    """The support bot's log, by name: versions, feedback and retrieved documents told apart.

    `base` is the only request of the baseline day; the others come the next days.
    """

    def make(name, hours, version, docs):
        when = T0 + dt.timedelta(hours=hours)
        return factories.make_request(
            app, app_version=version, chunks=chunks(*docs), created_at=when, question=name
        )

    made = {
        "base": make("base", 1, "1", "ab"),
        "up": make("up", 30, "1", "ab"),
        "down": make("down", 31, "1", "ac"),
        "mixed": make("mixed", 32, "2", "d"),
        "note": make("note", 33, "", ""),
        "none": make("none", 34, "2", "a"),
        "split": make("split", 35, "2", "b"),
    }
    feedback(
        made["up"], querier, rating="positive", retrieval_assessments=[{"position": 0, "rating": "relevant"}]
    )
    feedback(
        made["down"],
        querier,
        rating="negative",
        reasons=["inaccurate"],
        corrected_response="Rotate it under Settings, then API tokens.",
        retrieval_assessments=[
            {"position": 0, "rating": "not_relevant"},
            {"position": 1, "rating": "not_relevant"},
        ],
    )
    feedback(made["mixed"], querier, rating="positive")
    feedback(
        made["mixed"],
        manager,
        rating="negative",
        reasons=["incomplete"],
        missing_sources=[{"doc_uri": "docs://tokens#expiry"}],
    )
    feedback(made["note"], querier, comment="Not sure about this one.")
    feedback(
        made["split"],
        querier,
        rating="positive",
        retrieval_assessments=[{"position": 0, "rating": "relevant"}],
    )
    feedback(made["split"], manager, retrieval_assessments=[{"position": 0, "rating": "not_relevant"}])
    return made


@pytest.fixture
def elsewhere(db):
    """Another app whose log would match every filter, with a baseline holding docs://c."""
    other = factories.make_app("other-bot")
    owner = factories.make_user("owner@example.com")
    factories.grant(other, owner, Level.CAN_MANAGE)
    base = factories.make_request(other, chunks=chunks("c"), created_at=T0 + dt.timedelta(hours=2))
    later = factories.make_request(other, chunks=chunks("a", "e"), created_at=T0 + dt.timedelta(hours=40))
    for request in (base, later):
        feedback(
            request,
            owner,
            rating="negative",
            reasons=["inaccurate", "incomplete"],
            corrected_response="Better.",
            missing_sources=[{"doc_uri": "docs://x"}],
            retrieval_assessments=[{"position": 0, "rating": "relevant"}],
        )
    return {"app": other, "owner": owner, "requests": [base, later]}


def names(rows, ids) -> set[str]:
    by_id = {str(request.pk): name for name, request in rows.items()}
    return {by_id.get(str(i), f"foreign {i}") for i in ids}


def page_ids(client, app, params) -> list[str]:
    response = client.get(f"{reverse('requestlog', args=[app.slug])}?{urlencode(params)}")
    assert response.status_code == 200, response.context["errors"]
    return [str(row.request_id) for row, _ in response.context["rows"]]


def api_ids(client, app, params) -> list[str]:
    response = client.get(reverse("api-request-logs", args=[app.slug]), params)
    assert response.status_code == 200, response.content
    return [row["request_id"] for row in response.json()["results"]]


EVERYONE = {"base", "up", "down", "mixed", "note", "none", "split"}
REVIEWED = {"up", "down", "mixed", "note", "split"}
CASES = [
    ({"rating": "positive"}, {"up", "mixed", "split"}),
    ({"rating": "negative"}, {"down", "mixed"}),
    ({"feedback": "yes"}, REVIEWED),
    ({"feedback": "no"}, {"base", "none"}),
    ({"verdict": "positive"}, {"up", "split"}),
    ({"verdict": "negative"}, {"down"}),
    ({"verdict": "mixed"}, {"mixed"}),
    ({"verdict": "rated"}, {"up", "down", "mixed", "split"}),
    ({"verdict": "unrated"}, {"base", "note", "none"}),
    ({"unversioned": "yes"}, {"note"}),
    ({"unversioned": "no"}, EVERYONE - {"note"}),
    ({"app_version": "1"}, {"base", "up", "down"}),
    ({"app_version": ""}, EVERYONE),
    ({"corrected": "yes"}, {"down"}),
    ({"corrected": "no"}, REVIEWED - {"down"}),
    ({"missing_source": "yes"}, {"mixed"}),
    ({"missing_source": "no"}, REVIEWED - {"mixed"}),
    ({"retrieval": "rated"}, {"up", "down", "split"}),
    ({"retrieval": "hit"}, {"up"}),
    ({"retrieval": "miss"}, {"down", "split"}),
    ({"reason": "inaccurate"}, {"down"}),
    ({"reason": "incomplete"}, {"mixed"}),
    ({"reason": "harmful or unsafe"}, set()),
    ({"reviewer": "manager@example.com"}, {"mixed", "split"}),
    ({"reviewer": "QUERIER@example.com"}, REVIEWED),
    ({"reviewer": "owner@example.com"}, set()),
    ({"retrieved": "yes"}, EVERYONE - {"note"}),
    ({"retrieved": "no"}, {"note"}),
    ({"doc_uri": "docs://c"}, {"down"}),
    ({"doc_uri": "docs://a"}, {"base", "up", "down", "none"}),
    ({"doc_uri": "docs://e"}, set()),
    (BASELINE, {"down", "mixed"}),
    # A baseline of the whole first two days: only d was never retrieved in it.
    ({"novel_since": "2026-05-01T00:00:00Z", "novel_until": "2026-05-02T08:00:00Z"}, {"mixed"}),
    ({**BASELINE, "since": "2026-05-02T07:30:00Z"}, {"mixed"}),
    ({"verdict": "rated", "app_version": "2"}, {"mixed", "split"}),
    ({"retrieval": "miss", "rating": "positive"}, {"split"}),
    ({"retrieved": "yes", "feedback": "no"}, {"base", "none"}),
]


@pytest.mark.parametrize(("params", "expected"), CASES, ids=[urlencode(p) for p, _ in CASES])
def test_each_filter_selects_exactly_its_rows_on_the_page_and_in_the_api(
    app, manager, as_user, rows, elsewhere, params, expected
):
    client = as_user(manager)

    from_api = api_ids(client, app, params)
    assert names(rows, from_api) == expected
    assert page_ids(client, app, params) == from_api


def test_all_matching_go_into_a_queue_by_the_same_filters(app, manager, as_user, rows, elsewhere):
    client = as_user(manager)
    filters = {"verdict": "rated", "retrieval": "miss", **BASELINE}

    response = client.post(
        reverse("request-add-to-queue", args=[app.slug]),
        {
            "save": "1",
            "scope": "matching",
            "target": "new",
            "name": "Misses",
            "overlap": "1",
            "assignment": "open",
            **filters,
        },
    )

    assert response.status_code == 302
    queue = ReviewQueue.objects.get(app=app, name="Misses")
    assert names(rows, queue.items.values_list("request_id", flat=True)) == {"down"}


def test_the_rating_filter_reads_the_summaries_not_the_assessment_log(app, manager, as_user, rows):
    client = as_user(manager)

    for params in ({"rating": "negative"}, {"feedback": "yes"}, {"verdict": "mixed"}, {"corrected": "yes"}):
        with CaptureQueriesContext(connection) as queries:
            api_ids(client, app, params)
            page_ids(client, app, params)
        # The queries that select a page of requests (the page's and the API's); others may read
        # the assessment log to bring the summaries up to date first.
        pages = [
            q["sql"] for q in queries if 'FROM "requestlog_request"' in q["sql"] and "LIMIT 51" in q["sql"]
        ]
        assert len(pages) == 2, params
        assert not [s for s in pages if "feedback_assessment" in s], params
        assert all('"feedback_requestfeedback"' in s for s in pages), params


def test_another_apps_manager_and_outsiders_never_see_these_rows(
    app, as_user, rows, elsewhere, outsider, viewer
):
    owner = as_user(elsewhere["owner"])

    everything = {"reason": "inaccurate", "retrieved": "yes", "doc_uri": "docs://a", **BASELINE}
    assert api_ids(owner, elsewhere["app"], everything) == [str(elsewhere["requests"][1].pk)]
    for user, status in ((outsider, 404), (elsewhere["owner"], 404), (viewer, 403)):
        client = as_user(user)
        page = client.get(f"{reverse('requestlog', args=[app.slug])}?{urlencode(everything)}")
        api = client.get(reverse("api-request-logs", args=[app.slug]), everything)
        assert page.status_code == api.status_code == status
        assert str(rows["down"].pk) not in page.content.decode() + api.content.decode()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"verdict": "maybe"}, "verdict"),
        ({"unversioned": "true"}, "unversioned"),
        ({"corrected": "1"}, "corrected"),
        ({"missing_source": "often"}, "missing_source"),
        ({"retrieval": "all"}, "retrieval"),
        ({"retrieved": "some"}, "retrieved"),
        ({"reason": "r" * 201}, "reason"),
        ({"reason": "nul\x00"}, "reason"),
        ({"reviewer": "not an email"}, "reviewer"),
        ({"reviewer": "x" * 250 + "@example.com"}, "reviewer"),
        ({"doc_uri": "docs://" + "u" * 1000}, "doc_uri"),
        ({"novel_since": "2026-05-01T00:00:00Z"}, "novel_until"),
        ({"novel_until": "2026-05-01T00:00:00Z"}, "novel_since"),
        ({"novel_since": "2026-05-02T00:00:00Z", "novel_until": "2026-05-01T00:00:00Z"}, "novel_until"),
        ({"novel_since": "yesterday", "novel_until": "2026-05-01T00:00:00Z"}, "novel_since"),
        ({"novel_since": "0001-01-01T00:00:00+05:00", "novel_until": "2026-05-03T00:00:00Z"}, "novel_since"),
    ],
)
def test_a_bad_value_is_a_400_naming_it_on_the_page_and_in_the_api(app, manager, as_user, params, field):
    client = as_user(manager)

    page = client.get(f"{reverse('requestlog', args=[app.slug])}?{urlencode(params)}")
    api = client.get(reverse("api-request-logs", args=[app.slug]), params)

    assert page.status_code == api.status_code == 400
    assert field in page.context["errors"]
    assert field in api.json()
    assert field in page.content.decode()


def test_a_bad_filter_adds_nothing_to_a_queue(app, manager, as_user, rows):
    client = as_user(manager)

    response = client.post(
        reverse("request-add-to-queue", args=[app.slug]),
        {
            "save": "1",
            "scope": "matching",
            "target": "new",
            "name": "Never",
            "novel_since": "2026-05-01T00:00:00Z",
        },
    )

    assert response.status_code == 302
    assert not ReviewQueue.objects.filter(name="Never").exists()
    assert "novel_until" in client.get(response["Location"]).content.decode()


def test_filters_the_form_does_not_show_are_chips_that_remove_themselves(app, manager, as_user, rows):
    client = as_user(manager)
    params = {"source": "review_app", "verdict": "mixed", "reason": "incomplete", **BASELINE}

    page = client.get(f"{reverse('requestlog', args=[app.slug])}?{urlencode(params)}")

    chips = {chip["names"][0]: chip for chip in page.context["chips"]}
    assert list(chips) == ["verdict", "reason", "novel_since"]
    assert chips["verdict"]["value"] == "Thumbs up and down"
    assert chips["reason"]["value"] == "incomplete"
    assert chips["novel_since"]["value"] == "2026-05-01T00:00:00Z – 2026-05-02T00:00:00Z"
    log_url = reverse("requestlog", args=[app.slug])
    # Removing the baseline removes both of its ends, and keeps the rest.
    assert chips["novel_since"]["remove_url"] == f"{log_url}?" + urlencode(
        {"source": "review_app", "verdict": "mixed", "reason": "incomplete"}
    )
    html = page.content.decode()
    assert 'data-testid="filter-chips"' in html
    # The filter form carries them (a change of a shown filter keeps them), and so does the queue form.
    assert html.count('<input type="hidden" name="verdict" value="mixed">') == 2
    assert html.count('<input type="hidden" name="novel_until" value="2026-05-02T00:00:00Z">') == 2
    # The form itself stays simple: no select for the verdict.
    assert 'name="verdict"' not in html.replace('<input type="hidden" name="verdict"', "")


def test_a_log_without_such_filters_shows_no_chips(app, manager, as_user, rows):
    page = as_user(manager).get(f"{reverse('requestlog', args=[app.slug])}?source=review_app")

    assert page.context["chips"] == []
    assert 'data-testid="filter-chips"' not in page.content.decode()


def test_the_log_shows_each_rows_effective_ratings_from_its_summary(app, manager, as_user, rows):
    page = as_user(manager).get(reverse("requestlog", args=[app.slug]))

    shown = {str(row.pk): feedback for row, feedback in page.context["rows"]}
    assert shown[str(rows["mixed"].pk)] == {"positive": 1, "negative": 1, "reviewers": 2}
    assert shown[str(rows["note"].pk)] == {"positive": 0, "negative": 0, "reviewers": 1}
    assert shown[str(rows["none"].pk)] is None


def test_the_schema_documents_every_filter(client, db):
    schema = client.get("/api/schema/", headers={"Accept": "application/json"}).json()
    parameters = {
        p["name"]: p for p in schema["paths"]["/api/v1/apps/{slug}/request-logs"]["get"]["parameters"]
    }

    assert parameters["verdict"]["schema"]["enum"] == ["mixed", "negative", "positive", "rated", "unrated"]
    assert parameters["retrieval"]["schema"]["enum"] == ["hit", "miss", "rated"]
    assert parameters["unversioned"]["schema"]["enum"] == ["no", "yes"]
    assert parameters["reason"]["schema"]["maxLength"] == 200
    assert parameters["doc_uri"]["schema"]["maxLength"] == 1000
    assert parameters["reviewer"]["schema"]["format"] == "email"
    assert parameters["novel_since"]["schema"]["format"] == "date-time"
    for name in ("corrected", "missing_source", "retrieved", "novel_until"):
        assert parameters[name]["description"]
