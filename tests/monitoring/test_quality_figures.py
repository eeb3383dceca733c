"""quality(): every figure against values computed by hand on a small request log, written through
the real services (log_turn, record_feedback), on whichever database the run uses."""

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from statistics import NormalDist

import pytest

from reviewapp.catalog.models import App
from reviewapp.chains.base import ChainResult
from reviewapp.feedback.services import record_feedback
from reviewapp.monitoring.quality import (
    MAX_VERSIONS,
    Figures,
    Rate,
    VersionQuality,
    Window,
    WindowError,
    compare,
    quality,
)
from reviewapp.requestlog.models import Request
from reviewapp.requestlog.services import log_turn
from tests import factories

MARCH_2 = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
WINDOW = Window(since=MARCH_2, until=MARCH_2 + timedelta(days=3))
BASELINE = {
    "baseline_since": datetime(2026, 2, 1, tzinfo=UTC),
    "baseline_until": datetime(2026, 3, 1, tzinfo=UTC),
}
Z = NormalDist().inv_cdf(0.975)


def turn(app, when, *, version="1.0", latency=None, tokens=None, status="ok", source="review_app", docs=()):
    """One logged turn of `app` at `when`, as log_turn writes it; `docs` are its passages in order."""
    app.version = version  # an error turn is logged with the app's version
    messages = [{"role": "user", "content": f"Question at {when.isoformat()}"}]
    if status == "error":
        return log_turn(app=app, user=None, source=source, messages=messages, error="boom", created_at=when)
    request_tokens, response_tokens = tokens or (None, None)
    result = ChainResult(
        response="An answer",
        chunks=[{"position": i, "doc_uri": uri, "content": f"About {uri}"} for i, uri in enumerate(docs)],
        latency_ms=latency,
        request_tokens=request_tokens,
        response_tokens=response_tokens,
        total_tokens=None if tokens is None else request_tokens + response_tokens,
        complete=status != "incomplete",
        app_version=version,
    )
    return log_turn(app=app, user=None, source=source, messages=messages, result=result, created_at=when)


def rate(request, reviewer, **changes):
    # A fresh row, so the service sees the app as stored (version "1"), not as `turn` left it.
    record_feedback(request=Request.objects.get(pk=request.pk), reviewer=reviewer, changes=changes)


def relevant(*ratings):
    return [{"position": i, "rating": r} for i, r in enumerate(ratings) if r]


def write_log(app: App) -> App:
    """Version 1.0: six requests (four on Mar 2, two on Mar 4), 2.0: two, unversioned: one, all in the
    window Mar 2-5; one before it, one at its end; a baseline in February; another app beside it."""
    App.objects.filter(pk=app.pk).update(
        price_input_per_1k=Decimal("0.5"), price_output_per_1k=Decimal("1.5")
    )
    x = factories.make_user("x@example.com")
    y = factories.make_user("y@example.com")
    day2, day4 = MARCH_2 + timedelta(hours=9), MARCH_2 + timedelta(days=2, hours=15)
    a, b, c, d, e = (f"docs://{name}" for name in "abcde")

    r1 = turn(app, day2, latency=100, tokens=(100, 50), docs=(a, b))
    r2 = turn(app, day2 + timedelta(minutes=1), latency=200, tokens=(200, 100), docs=(b, c))
    r3 = turn(
        app,
        day2 + timedelta(minutes=2),
        latency=300,
        tokens=(30, 30),
        status="incomplete",
        source="rest_api",
        docs=(c,),
    )
    turn(app, day2 + timedelta(minutes=3), status="error", source="rest_api")
    turn(app, day4, latency=1000, tokens=(10, 10), docs=(a,))
    r6 = turn(app, day4 + timedelta(minutes=1), latency=50, tokens=(10, 10), docs=(d,))
    r7 = turn(app, day2, version="2.0", latency=400, docs=(e,))
    r8 = turn(app, day4, version="2.0", latency=500, docs=(e,))
    r9 = turn(app, day4, version="", latency=70, docs=(a,))
    # Outside the window: the second before it and its (exclusive) end.
    rated_outside = [
        turn(app, MARCH_2 - timedelta(seconds=1), latency=5, docs=(e,)),
        turn(app, WINDOW.until, latency=5, docs=(e,)),
    ]
    turn(app, datetime(2026, 2, 10, tzinfo=UTC), version="0.9", docs=(a, b))  # the baseline's documents

    rate(r1, x, rating="negative", reasons=["inaccurate"])
    rate(r1, x, rating="positive", reasons=[], retrieval_assessments=relevant("relevant", "not_relevant"))
    rate(
        r2,
        x,
        rating="negative",
        reasons=["inaccurate"],
        corrected_response="Better",
        retrieval_assessments=relevant("not_relevant", "relevant"),
    )
    rate(r2, y, rating="negative", reasons=["inaccurate", "incomplete"])
    rate(r3, x, rating="positive")
    rate(r3, y, rating="negative", reasons=["incomplete"], missing_sources=[{"doc_uri": "docs://z"}])
    rate(r6, x, rating="positive", retrieval_assessments=relevant("not_relevant"))
    rate(r7, x, rating="positive", retrieval_assessments=relevant("relevant"))
    rate(r8, x, rating="positive")
    rate(r9, y, rating="negative", reasons=["incomplete"])
    for request in rated_outside:
        rate(request, y, rating="negative", reasons=["irrelevant"])

    # Another app: the same versions and time, its own feedback, and document c in its baseline.
    other = factories.make_app("other-bot")
    o1 = turn(other, day2, latency=9000, tokens=(5000, 5000), docs=(c,))
    turn(other, datetime(2026, 2, 10, tzinfo=UTC), docs=(c, d))
    turn(other, day2, version="2.0", latency=9000, docs=(a,))
    rate(o1, x, rating="negative", reasons=["harmful or unsafe"])
    app.refresh_from_db()
    return app


@pytest.fixture
def log(app):
    return write_log(app)


def by_version(answer):
    return {v.version: v for v in answer.versions}


def wilson_by_hand(hits, total):
    p = hits / total
    centre = (p + Z * Z / (2 * total)) / (1 + Z * Z / total)
    half = Z * math.sqrt(p * (1 - p) / total + Z * Z / (4 * total * total)) / (1 + Z * Z / total)
    return centre - half, centre + half


def test_versions_come_newest_first_with_the_unversioned_requests_last(log):
    assert [v.version for v in quality(log, WINDOW).versions] == ["2.0", "1.0", ""]


def test_traffic_errors_tokens_and_cost_are_counted_per_version(log):
    one = by_version(quality(log, WINDOW))["1.0"].total

    assert one.requests == 6
    assert one.by_source == {"review_app": 4, "rest_api": 2, "import": 0, "comparison": 0}
    assert (one.errors.hits, one.errors.total, one.incomplete.hits) == (1, 6, 1)
    assert one.tokens == {"request": 350, "response": 200, "total": 550}
    # 350 / 1000 * 0.5 + 200 / 1000 * 1.5
    assert one.cost == Decimal("0.475")


def test_cost_is_none_when_the_app_has_no_prices(log):
    App.objects.filter(pk=log.pk).update(price_input_per_1k=None, price_output_per_1k=None)
    log.refresh_from_db()
    assert by_version(quality(log, WINDOW))["1.0"].total.cost is None


def test_latency_percentiles_per_bucket_and_over_the_window(log):
    one = by_version(quality(log, WINDOW))["1.0"]
    march2, march3, march4 = (figures.latency_ms for _start, figures in one.series)

    # 50, 100, 200, 300, 1000: ranks ceil(2.5) = 3 and ceil(4.75) = ceil(4.95) = 5.
    assert one.total.latency_ms == {"p50": 200, "p95": 1000, "p99": 1000, "n": 5}
    assert march2 == {"p50": 200, "p95": 300, "p99": 300, "n": 3}
    assert march3 == {"p50": None, "p95": None, "p99": None, "n": 0}
    assert march4 == {"p50": 50, "p95": 1000, "p99": 1000, "n": 2}


def test_latency_percentiles_are_the_nearest_rank(db):
    app = factories.make_app("timed")
    # 21 values: 10, 20, ..., 210 in a scrambled order; ranks ceil(10.5) = 11, ceil(19.95) = 20, ceil(20.79) = 21.
    for i in range(21):
        turn(app, MARCH_2 + timedelta(minutes=i), latency=((i * 8) % 21 + 1) * 10)
    figures = quality(app, WINDOW).versions[0].total
    assert figures.latency_ms == {"p50": 110, "p95": 200, "p99": 210, "n": 21}


def test_people_figures_come_from_the_effective_feedback(log):
    one = by_version(quality(log, WINDOW))["1.0"].total

    assert (one.reviewed.hits, one.reviewed.total) == (4, 6)
    # r1 positive (changed its mind), r2 negative, r3 mixed, r6 positive.
    assert (one.thumbs_up.hits, one.thumbs_up.total) == (2, 4)
    assert (one.corrections.hits, one.corrections.total) == (1, 4)
    assert (one.missing_sources.hits, one.missing_sources.total) == (1, 4)


def test_rates_carry_a_95_percent_wilson_interval(log):
    thumbs_up = by_version(quality(log, WINDOW))["1.0"].total.thumbs_up
    low, high = wilson_by_hand(2, 4)

    assert thumbs_up.value == 0.5
    assert thumbs_up.low == pytest.approx(low, abs=1e-12)
    assert thumbs_up.high == pytest.approx(high, abs=1e-12)
    assert (round(thumbs_up.low, 4), round(thumbs_up.high, 4)) == (0.1500, 0.8500)


def test_retrieval_figures_from_the_passage_ratings(log):
    one = by_version(quality(log, WINDOW))["1.0"].total

    # r1: 1 of 2 relevant (rank 1); r2: 1 of 2 (rank 2); r6: 0 of 1.
    assert (one.chunk_precision.hits, one.chunk_precision.total) == (2, 5)
    assert (one.hit_rate.hits, one.hit_rate.total) == (2, 3)
    assert one.mrr == pytest.approx((1 + 1 / 2 + 0) / 3)
    assert one.mrr_n == 3
    assert (one.precision_at_k.hits, one.precision_at_k.total) == (2, 5)


def test_precision_at_1_counts_only_the_first_passages(log):
    one = by_version(quality(log, Window(since=WINDOW.since, until=WINDOW.until, k=1)))["1.0"].total
    assert (one.precision_at_k.hits, one.precision_at_k.total) == (1, 3)


def test_every_bucket_is_in_the_series_empty_ones_with_zeros(log):
    one = by_version(quality(log, WINDOW))["1.0"]
    starts = [start for start, _figures in one.series]

    assert starts == [MARCH_2, MARCH_2 + timedelta(days=1), MARCH_2 + timedelta(days=2)]
    march2, march3, march4 = (figures for _start, figures in one.series)
    assert (march2.requests, march2.reviewed.hits, march2.thumbs_up.hits, march2.thumbs_up.total) == (
        4,
        3,
        1,
        3,
    )
    assert (march4.requests, march4.reviewed.hits, march4.thumbs_up.hits, march4.thumbs_up.total) == (
        2,
        1,
        1,
        1,
    )
    assert march3 == Figures(
        requests=0,
        by_source={"review_app": 0, "rest_api": 0, "import": 0, "comparison": 0},
        errors=Rate(0, 0),
        incomplete=Rate(0, 0),
        latency_ms={"p50": None, "p95": None, "p99": None, "n": 0},
        tokens={"request": 0, "response": 0, "total": 0},
        cost=Decimal("0"),
        reviewed=Rate(0, 0),
        thumbs_up=Rate(0, 0),
        corrections=Rate(0, 0),
        missing_sources=Rate(0, 0),
        chunk_precision=Rate(0, 0),
        hit_rate=Rate(0, 0),
        mrr=None,
        mrr_n=0,
        precision_at_k=Rate(0, 0),
    )


def test_hours_and_weeks_bucket_in_utc(log):
    weeks = quality(log, Window(since=MARCH_2 + timedelta(days=1), until=WINDOW.until, bucket="week"))
    hours = quality(
        log,
        Window(
            since=MARCH_2 + timedelta(hours=8, minutes=30), until=MARCH_2 + timedelta(hours=11), bucket="hour"
        ),
    )

    assert [start for start, _f in weeks.versions[0].series] == [MARCH_2]
    one = by_version(hours)["1.0"]
    assert [(start.hour, f.requests) for start, f in one.series] == [(8, 0), (9, 4), (10, 0)]


def test_negative_reasons_are_ranked_by_the_requests_giving_them(log):
    answer = by_version(quality(log, WINDOW))

    # "inaccurate" has two votes, on one request; "incomplete" is on two requests.
    assert answer["1.0"].reasons == [("incomplete", 2), ("inaccurate", 1)]
    assert answer[""].reasons == [("incomplete", 1)]
    assert answer["2.0"].reasons == []


def test_reviewers_count_the_requests_they_assessed_under_the_requests_version(log):
    answer = quality(log, WINDOW)

    assert by_version(answer)["1.0"].reviewers == [("x@example.com", 4), ("y@example.com", 2)]
    assert by_version(answer)["2.0"].reviewers == [("x@example.com", 2)]
    # The assessment copied the app's version ("1"); the request had none.
    assert by_version(answer)[""].reviewers == [("y@example.com", 1)]
    assert "1" not in by_version(answer)


def test_drift_counts_requests_that_retrieved_a_document_the_baseline_never_did(log):
    answer = by_version(quality(log, Window(since=WINDOW.since, until=WINDOW.until, **BASELINE)))

    one = answer["1.0"].drift
    # Baseline: a, b. r2 and r3 retrieved c, r6 d; r1 and r5 only known ones; r4 nothing.
    assert (one.requests, one.novel) == (5, 3)
    assert one.top_new == [("docs://c", 2), ("docs://d", 1)]
    assert (one.share.hits, one.share.total, one.share.value) == (3, 5, 0.6)
    assert (answer["2.0"].drift.novel, answer["2.0"].drift.top_new) == (2, [("docs://e", 2)])
    assert (answer[""].drift.requests, answer[""].drift.novel, answer[""].drift.top_new) == (1, 0, [])


def test_a_baseline_that_retrieved_nothing_measures_no_drift_and_says_why(log):
    empty = {
        "baseline_since": datetime(2025, 1, 1, tzinfo=UTC),
        "baseline_until": datetime(2025, 2, 1, tzinfo=UTC),
    }
    answer = quality(log, Window(since=WINDOW.since, until=WINDOW.until, **empty))

    one = by_version(answer)["1.0"].drift
    assert answer.baseline_empty
    assert (one.requests, one.novel, one.share, one.top_new, one.baseline_empty) == (5, None, None, [], True)


def test_there_is_no_drift_without_a_baseline(log):
    assert all(v.drift is None for v in quality(log, WINDOW).versions)


def test_one_apps_figures_never_include_another_apps_rows(log):
    answer = by_version(quality(log, Window(since=WINDOW.since, until=WINDOW.until, **BASELINE)))
    two = answer["2.0"].total

    assert (two.requests, two.latency_ms["p95"], two.thumbs_up.total) == (2, 500, 2)
    assert "harmful or unsafe" not in dict(answer["1.0"].reasons)
    assert answer["1.0"].total.tokens["request"] == 350
    # c was in the other app's baseline, not this one's.
    assert ("docs://c", 2) in answer["1.0"].drift.top_new

    other = by_version(quality(App.objects.get(slug="other-bot"), WINDOW))
    assert set(other) == {"1.0", "2.0"}
    assert other["1.0"].total.requests == 1 and other["1.0"].reviewers == [("x@example.com", 1)]


def test_asked_versions_only_and_one_without_requests_shows_zeros(log):
    answer = quality(log, Window(since=WINDOW.since, until=WINDOW.until, versions=("2.0", "3.0")))

    assert [v.version for v in answer.versions] == ["3.0", "2.0"]
    assert answer.versions[0].total.requests == 0 and len(answer.versions[0].series) == 3


def test_at_most_twelve_versions_those_with_most_requests(db):
    app = factories.make_app("busy")
    for version in range(MAX_VERSIONS + 2):
        for minute in range(version + 1):
            turn(app, MARCH_2 + timedelta(minutes=minute), version=f"{version}.0")
    answer = quality(app, WINDOW)

    assert [v.version for v in answer.versions] == [f"{v}.0" for v in range(MAX_VERSIONS + 1, 1, -1)]
    assert answer.versions_left_out == 2


def test_two_versions_are_compared_on_the_thumbs_up_rate(log):
    answer = quality(log, Window(since=WINDOW.since, until=WINDOW.until, versions=("1.0", "2.0")))
    comparison = answer.comparison

    # 2 of 4 against 2 of 2: pooled 4/6, z = 0.5 / sqrt(4/6 * 2/6 * (1/4 + 1/2)).
    z = 0.5 / math.sqrt(4 / 6 * 2 / 6 * (1 / 4 + 1 / 2))
    assert (comparison.a, comparison.b, comparison.difference) == ("1.0", "2.0", 0.5)
    assert comparison.p_value == pytest.approx(2 * (1 - NormalDist().cdf(z)))
    assert comparison.verdict == "not distinguishable"
    # Cohen's h = 2 asin(sqrt(1)) - 2 asin(sqrt(1/2)) = pi / 2, each arcsine with variance 1 / n:
    # n = 2 ((z_0.975 + z_0.8) / h)^2 = 6.36 -> 7 per version; version 2.0 has 2.
    n = 2 * ((Z + NormalDist().inv_cdf(0.8)) / (math.pi / 2)) ** 2
    assert comparison.more_reviews_needed == math.ceil(n) - 2 == 5
    assert comparison.sentence == (
        "2.0 and 1.0 are not distinguishable yet at this sample size (p = 0.22); about 5 more reviews "
        "per version are needed to tell a difference of this size."
    )


def test_no_comparison_unless_exactly_two_versions_were_asked(log):
    assert quality(log, WINDOW).comparison is None
    assert quality(log, Window(since=WINDOW.since, until=WINDOW.until, versions=("1.0",))).comparison is None


def _version(name, hits, total):
    return VersionQuality(
        version=name,
        total=Figures(thumbs_up=Rate(hits, total, hits / total if total else None)),
        series=[],
        reasons=[],
        reviewers=[],
    )


def test_the_comparison_says_better_worse_or_not_yet_in_a_sentence():
    better = compare(_version("1", 64, 100), _version("2", 78, 100))
    worse = compare(_version("1", 78, 100), _version("2", 64, 100))
    same = compare(_version("1", 5, 10), _version("2", 5, 10))
    empty = compare(_version("", 5, 10), _version("2", 0, 0))

    assert better.sentence == "2 is better than 1 (thumbs up 78% vs 64%, p = 0.029)."
    assert (better.verdict, better.more_reviews_needed) == ("better", None)
    assert worse.sentence == "2 is worse than 1 (thumbs up 64% vs 78%, p = 0.029)."
    assert same.verdict == "not distinguishable" and same.more_reviews_needed is None
    assert same.sentence.startswith("2 and 1 are not distinguishable yet at this sample size (p = 1)")
    assert (
        empty.sentence == "2 and (no version) cannot be compared yet: 2 has no rated requests in this range."
    )
    assert empty.p_value is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"since": WINDOW.until}, "since"),
        ({"bucket": "month"}, "bucket"),
        ({"k": 2}, "k"),
        ({"since": MARCH_2 - timedelta(days=84), "bucket": "hour"}, "bucket"),
        ({"baseline_since": BASELINE["baseline_since"]}, "baseline_until"),
        ({**BASELINE, "baseline_since": BASELINE["baseline_until"]}, "baseline_since"),
        ({"versions": tuple(str(i) for i in range(MAX_VERSIONS + 1))}, "versions"),
        ({"versions": ("x" * 101,)}, "versions"),
        ({"until": datetime(2026, 3, 5)}, "until"),
    ],
)
def test_a_window_that_cannot_be_computed_names_the_field(db, changes, field):
    app = factories.make_app("any")
    fields = {"since": WINDOW.since, "until": WINDOW.until} | changes
    with pytest.raises(WindowError) as error:
        quality(app, Window(**fields))
    assert error.value.field == field


def test_two_thousand_buckets_are_allowed(db):
    app = factories.make_app("long")
    since = MARCH_2 - timedelta(hours=1999)
    answer = quality(
        app, Window(since=since, until=MARCH_2 + timedelta(hours=1), bucket="hour", versions=("1",))
    )
    assert len(answer.versions[0].series) == 2000


def test_judge_pass_rates_per_judge_version_by_the_requests_time(log, manager):
    from reviewapp.judges.models import Judge, JudgeResult, JudgeVersion

    def judge_of(app, name):
        judge = Judge.objects.create(app=app, name=name, kind="llm")
        return [
            JudgeVersion.objects.create(judge=judge, number=n, metric="safety", threshold=1) for n in (1, 2)
        ]

    def said(version, request, value):
        JudgeResult.objects.create(
            version=version, request=request, app=request.app, app_version=request.app_version, value=value
        )

    ones = list(
        Request.objects.filter(app=log, app_version="1.0", created_at__gte=WINDOW.since).order_by(
            "created_at"
        )
    )
    v1, v2 = judge_of(log, "safe")
    said(v1, ones[0], "pass")
    said(v1, ones[1], "fail")
    said(v1, ones[2], "error")  # no verdict: left out
    said(v1, ones[4], "pass")
    said(v2, ones[5], "fail")
    gone, _ = judge_of(log, "gone")
    said(gone, ones[0], "fail")
    Judge.objects.filter(name="gone").update(deleted_at=MARCH_2)
    other = Request.objects.filter(app__slug="other-bot", app_version="1.0").first()
    said(judge_of(other.app, "safe")[0], other, "fail")

    answer = by_version(quality(log, WINDOW))

    one = answer["1.0"]
    assert {k: (r.hits, r.total) for k, r in one.total.judges.items()} == {
        "safe v1": (2, 3),
        "safe v2": (0, 1),
    }
    assert one.total.judges["safe v1"].value == pytest.approx(2 / 3)
    series = [{k: (r.hits, r.total) for k, r in f.judges.items()} for _start, f in one.series]
    assert series == [{"safe v1": (1, 2)}, {}, {"safe v1": (1, 1), "safe v2": (0, 1)}]
    assert answer["2.0"].total.judges == {}


def test_the_whole_computation_is_a_bounded_number_of_queries(log, django_assert_max_num_queries):
    # Eight, and one to find feedback not summed yet; the first read also sums what was written
    # since the last one: a batch's few statements.
    with django_assert_max_num_queries(9 + 12):
        quality(log, Window(since=WINDOW.since, until=WINDOW.until, **BASELINE))
    with django_assert_max_num_queries(9):
        quality(log, Window(since=WINDOW.since, until=WINDOW.until, versions=("1.0", "2.0"), **BASELINE))
    with django_assert_max_num_queries(9):
        quality(log, Window(since=WINDOW.since, until=WINDOW.until, **BASELINE))
