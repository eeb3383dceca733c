"""GET /api/v1/apps/{slug}/quality and Client.quality: the figures as JSON and as a DataFrame, every bad
parameter a 400 naming it, 404 to outsiders, 403 below manage, a bounded number of queries."""

import copy
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import jsonschema
import pandas as pd
import pytest

from reviewapp.client import ApiError
from reviewapp.feedback import summary
from tests.monitoring.test_quality_figures import BASELINE, MARCH_2, WINDOW, wilson_by_hand, write_log

URL = "/api/v1/apps/support-bot/quality"
RANGE = {"since": "2026-03-02", "until": "2026-03-05T00:00:00Z"}
WITH_BASELINE = {**RANGE, "baseline_since": "2026-02-01", "baseline_until": "2026-03-01T00:00:00+00:00"}


@pytest.fixture
def log(app):
    return write_log(app)


def get(client, **params):
    return client.get(URL, params)


def test_a_manager_gets_every_figure_with_its_counts(as_user, manager, log):
    answer = get(as_user(manager), **WITH_BASELINE, versions="1.0,2.0").json()
    one = answer["versions"][1]

    assert answer["window"] == {
        "since": "2026-03-02T00:00:00Z",
        "until": "2026-03-05T00:00:00Z",
        "bucket": "day",
        "versions": ["1.0", "2.0"],
        "baseline_since": "2026-02-01T00:00:00Z",
        "baseline_until": "2026-03-01T00:00:00Z",
        "k": 3,
    }
    assert [v["version"] for v in answer["versions"]] == ["2.0", "1.0"]
    low, high = wilson_by_hand(2, 4)
    assert one["total"]["thumbs_up"] == {
        "hits": 2,
        "total": 4,
        "value": 0.5,
        "low": pytest.approx(low),
        "high": pytest.approx(high),
    }
    assert one["total"]["cost"] == "0.475000"
    assert one["total"]["latency_ms"] == {"p50": 200, "p95": 1000, "p99": 1000, "n": 5}
    assert (one["total"]["mrr"], one["total"]["mrr_n"]) == (pytest.approx(0.5), 3)
    assert [p["start"] for p in one["series"]] == [
        "2026-03-02T00:00:00Z",
        "2026-03-03T00:00:00Z",
        "2026-03-04T00:00:00Z",
    ]
    assert [p["requests"] for p in one["series"]] == [4, 0, 2]
    assert one["series"][1]["thumbs_up"] == {"hits": 0, "total": 0, "value": None, "low": None, "high": None}
    assert one["reasons"] == [
        {"reason": "incomplete", "requests": 2},
        {"reason": "inaccurate", "requests": 1},
    ]
    assert one["reviewers"] == [
        {"reviewer": "x@example.com", "requests": 4},
        {"reviewer": "y@example.com", "requests": 2},
    ]
    assert one["drift"]["top_new"] == [
        {"doc_uri": "docs://c", "requests": 2},
        {"doc_uri": "docs://d", "requests": 1},
    ]
    assert (one["drift"]["requests"], one["drift"]["novel"], one["drift"]["share"]["value"]) == (5, 3, 0.6)
    assert answer["comparison"]["sentence"].startswith("2.0 and 1.0 are not distinguishable yet")
    assert answer["versions_left_out"] == 0


def _strict(schema):
    """OpenAPI 3.0 as JSON Schema: `nullable` as a null type, and no key the schema does not name."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    schema = {key: _strict(value) for key, value in schema.items()}
    if "properties" in schema:
        schema.setdefault("additionalProperties", False)
    if schema.pop("nullable", False):
        schema = {"anyOf": [schema, {"type": "null"}]}
    return schema


@pytest.mark.parametrize(
    "params", [WITH_BASELINE, {**RANGE, "versions": "2.0,,1.0", "bucket": "hour", "k": "5"}, {}]
)
def test_every_answer_is_the_shape_its_schema_states(as_user, manager, log, params):
    client = as_user(manager)
    document = client.get("/api/schema/?format=json").json()
    operation = document["paths"]["/api/v1/apps/{slug}/quality"]["get"]
    schema = copy.deepcopy(operation["responses"]["200"]["content"]["application/json"]["schema"])
    schema["components"] = _strict(document["components"])

    answer = get(client, **params)

    assert answer.status_code == 200
    jsonschema.validate(answer.json(), schema, cls=jsonschema.Draft202012Validator)
    assert {p["name"] for p in operation["parameters"] if p["in"] == "query"} == {
        "since",
        "until",
        "bucket",
        "versions",
        "baseline_since",
        "baseline_until",
        "k",
    }


def test_the_defaults_are_the_last_30_days_by_day(as_user, manager, app):
    before = datetime.now(UTC)
    window = get(as_user(manager), since="", bucket="").json()["window"]
    until = datetime.fromisoformat(window["until"])

    assert before - timedelta(seconds=1) <= until <= datetime.now(UTC)
    assert until - datetime.fromisoformat(window["since"]) == timedelta(days=30)
    assert (window["bucket"], window["k"], window["versions"], window["baseline_since"]) == (
        "day",
        3,
        None,
        None,
    )


def test_the_default_range_starts_no_earlier_than_the_first_day_there_is(as_user, manager, app):
    window = get(as_user(manager), until="0001-01-03").json()["window"]
    assert (window["since"], window["until"]) == ("0001-01-01T00:00:00Z", "0001-01-03T00:00:00Z")


def test_an_empty_item_asks_for_the_unversioned_requests(as_user, manager, log):
    answer = get(as_user(manager), **RANGE, versions=",2.0").json()

    assert [v["version"] for v in answer["versions"]] == ["2.0", ""]
    assert answer["versions"][1]["total"]["requests"] == 1
    assert answer["comparison"]["a"] == "" and answer["comparison"]["b"] == "2.0"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-03-01T09:00:00"}, "since"),
        ({"since": "2026-02-30"}, "since"),
        ({"until": "2026-13-01T00:00:00Z"}, "until"),
        ({"since": "2026-03-05", "until": "2026-03-05"}, "since"),
        ({"since": "2026-03-06", "until": "2026-03-05"}, "since"),
        ({"until": "9999-12-31T23:30:00-23:59"}, "until"),
        ({"bucket": "month"}, "bucket"),
        ({"since": "2026-01-01", "until": "2026-04-01", "bucket": "hour"}, "bucket"),
        ({"versions": ",".join(str(i) for i in range(13))}, "versions"),
        ({"versions": "1.0," + "x" * 101}, "versions"),
        ({"versions": "1.0,\x00"}, "versions"),
        ({"k": "2"}, "k"),
        ({"k": "three"}, "k"),
        ({"baseline_since": "2026-02-01"}, "baseline_until"),
        ({"baseline_until": "2026-02-01"}, "baseline_since"),
        ({"baseline_since": "2026-02-01", "baseline_until": "2026-02-01"}, "baseline_since"),
        ({"baseline_since": "2026-02-01", "baseline_until": "soon"}, "baseline_until"),
        ({"version": "1.0"}, "version"),
    ],
)
def test_each_bad_parameter_is_a_400_naming_it(as_user, manager, app, params, field):
    response = get(as_user(manager), **params)

    assert response.status_code == 400
    assert field in response.json()


def test_a_parameter_given_twice_is_a_400(as_user, manager, app):
    response = as_user(manager).get(f"{URL}?k=1&k=3")
    assert response.status_code == 400 and "k" in response.json()


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("outsider", 404),
        ("viewer", 403),
        ("querier", 403),
        ("group_querier", 403),
        ("manager", 200),
        ("staff", 200),
    ],
)
def test_only_managers_see_the_figures(request, as_user, app, persona, status):
    client = as_user(request.getfixturevalue(persona))
    assert get(client).status_code == status
    # Asking badly tells an outsider nothing more.
    assert get(client, bucket="month").status_code == (status if status != 200 else 400)


def test_another_apps_figures_are_not_reachable_through_this_app(as_user, manager, log):
    from reviewapp.catalog.models import App

    assert App.objects.filter(slug="other-bot").exists()
    assert as_user(manager).get("/api/v1/apps/other-bot/quality").status_code == 404
    answer = get(as_user(manager), **RANGE).json()
    assert sum(v["total"]["requests"] for v in answer["versions"]) == 9


def test_the_answer_takes_a_bounded_number_of_queries(as_user, manager, log, django_assert_max_num_queries):
    client = as_user(manager)
    summary.catch_up()  # the feedback just written, as the periodic task sums it between reads
    with django_assert_max_num_queries(15):
        assert get(client, **WITH_BASELINE, versions="1.0,2.0").status_code == 200
    with django_assert_max_num_queries(15):
        assert get(client, **WITH_BASELINE, bucket="hour").status_code == 200


# --- the Python client, against a live server ---


def test_the_client_returns_a_frame_of_versions_and_buckets(client_as, manager, transactional_db, app):
    write_log(app)
    frame = client_as(manager).quality(
        app.slug,
        since=MARCH_2,
        until=date(2026, 3, 5),
        versions=["1.0", "2.0"],
        baseline=(BASELINE["baseline_since"], "2026-03-01"),
    )

    assert len(frame) == 6
    assert list(frame.columns[:3]) == ["version", "start", "requests"]
    one = frame[frame.version == "1.0"].set_index("start")
    march2 = one.loc[pd.Timestamp("2026-03-02", tz="UTC")]
    assert (march2.requests, march2.thumbs_up_hits, march2.thumbs_up_total) == (4, 1, 3)
    assert march2.thumbs_up == pytest.approx(1 / 3)
    assert (march2.thumbs_up_low, march2.thumbs_up_high) == pytest.approx(wilson_by_hand(1, 3))
    assert (march2.by_source_rest_api, march2.latency_ms_p50, march2.tokens_request) == (2, 200, 330)
    assert march2.cost == Decimal("0.435")  # 330 / 1000 * 0.5 + 180 / 1000 * 1.5
    assert one.requests.tolist() == [4, 0, 2]
    quality = frame.attrs["quality"]
    assert quality["comparison"]["more_reviews_needed"] == 5
    assert quality["versions"][1]["drift"]["novel"] == 3


def test_the_client_can_return_the_json(client_as, manager, transactional_db, app):
    write_log(app)
    answer = client_as(manager).quality(
        app.slug, since="2026-03-02", until=WINDOW.until, bucket="week", k=1, as_frame=False
    )

    assert [v["version"] for v in answer["versions"]] == ["2.0", "1.0", ""]
    assert answer["versions"][1]["total"]["precision_at_k"]["total"] == 3


def test_the_client_raises_the_servers_reason(client_as, manager, querier, transactional_db, app):
    with pytest.raises(ApiError) as bad:
        client_as(manager).quality(app.slug, bucket="month")
    assert bad.value.status == 400 and "bucket" in bad.value.body
    with pytest.raises(ApiError) as denied:
        client_as(querier).quality(app.slug)
    assert denied.value.status == 403
